"""From a reported layer config to a validated ``Layer`` in its canonical form.

The kernel reports each layer's class name and ``get_config()``; nothing of it is trusted. Only
the arguments the allow-list names are read, each validated; layers that compute the same thing
are folded into one form, so that comparison sees ``ReLU()`` and ``Activation('relu')`` alike.
"""
from __future__ import annotations

from grader.exceptions import DisallowedLayer, InvalidModel
from grader.layers.allowlist import ALIASES, ALLOWED, REQUIRED
from grader.layers.model import Layer


def from_keras(class_name: str, config: dict) -> Layer:
    """Validate one reported layer; anything outside the allow-list is a clear error."""
    class_name = ALIASES.get(class_name, class_name)
    if class_name not in ALLOWED:
        raise DisallowedLayer(
            f"layer type {class_name!r} is not allowed: the grader accepts only standard "
            f"Keras layers ({', '.join(sorted(ALLOWED))})", layer=class_name)
    kind, validators = ALLOWED[class_name]
    given = config.get("name")
    name: str = given if isinstance(given, str) else ""
    args = {}
    for key, check in validators.items():
        if key in config:
            try:
                value = check(config[key])
            except ValueError as exc:
                raise InvalidModel(f"layer {name or class_name!r}: argument {key!r}: {exc}") from None
            if value is not None:
                args[key] = value
    missing = [key for key in REQUIRED.get(kind, ()) if key not in args]
    if missing:
        raise InvalidModel(f"layer {name or class_name!r}: the model report has no "
                           f"{missing[0]!r} for this {class_name}")
    if config.get("trainable") is False:
        args["frozen"] = True
    return Layer(*_canonical(kind, class_name, args), name=name[:200], class_name=class_name)


def _canonical(kind: str, class_name: str, args: dict) -> tuple[str, dict]:
    """Fold layers that compute the same thing into one form."""
    if class_name == "ReLU":
        cap = args.get("max_value")
        plain = not args.get("negative_slope") and not args.get("threshold")
        if plain and cap in (None, 6.0):
            return "Activation", {"activation": "relu" if cap is None else "relu6"}
        return "ReLU", args
    if class_name == "LeakyReLU" and args.get("negative_slope") == 0:
        return "Activation", {"activation": "relu"}
    if class_name == "Softmax":
        return "Activation", {"activation": "softmax"}
    if kind in ("Conv2D", "Dense"):
        args.setdefault("activation", "linear")
        args.setdefault("use_bias", True)
        args.pop("data_format", None)
    if kind == "Conv2D":
        args.setdefault("strides", [1, 1])
        args.setdefault("padding", "valid")
        args.setdefault("dilation_rate", [1, 1])
        args.pop("groups", None)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        args.setdefault("pool_size", [2, 2])  # Keras's default
        args.setdefault("padding", "valid")
        if args.get("strides") in (None, args.get("pool_size")):
            args["strides"] = args.get("pool_size", [2, 2])
        args.pop("data_format", None)
    if kind == "BatchNormalization":
        args.setdefault("center", True)
        args.setdefault("scale", True)
    return kind, args

