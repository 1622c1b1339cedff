"""An allow-list of standard Keras layers, rebuilt from plain data.

The kernel reports each layer's class name and ``get_config()``; nothing of it is trusted. Only
the arguments named here are read, each validated, and the grader computes every output shape
and parameter count itself, so a tampered report cannot claim numbers it did not earn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from grader.exceptions import DisallowedLayer, InvalidModel

Shape = tuple  # (None, d1, d2, ...), batch first

ACTIVATIONS = frozenset({
    "linear", "relu", "softmax", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
    "swish", "silu", "gelu", "relu6", "leaky_relu", "hard_sigmoid", "exponential", "mish",
    "log_softmax",
})
INITIALIZERS = frozenset({
    "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "Zeros", "Ones", "Orthogonal",
})
MAX_DIM = 100_000


@dataclass(frozen=True)
class Layer:
    """A validated layer: ``kind`` is canonical (``ReLU()`` becomes ``Activation(relu)``)."""

    kind: str
    args: dict = field(default_factory=dict)
    name: str = ""
    class_name: str = ""

    def describe(self) -> str:
        """Short human form, e.g. ``Conv2D(64, 3x3, padding='same')``."""
        return describe(self.kind, self.args)


@dataclass(frozen=True)
class LayerInfo:
    """A layer with what the grader computed for it."""

    layer: Layer
    input_shape: Shape
    output_shape: Shape
    trainable: int
    non_trainable: int

    def to_dict(self) -> dict:
        return {
            "name": self.layer.name, "type": self.layer.kind, "class_name": self.layer.class_name,
            "args": self.layer.args, "description": self.layer.describe(),
            "output_shape": list(self.output_shape), "trainable": self.trainable,
            "non_trainable": self.non_trainable,
        }


# --- argument validators -------------------------------------------------------------------

def _int(v: Any, lo: int = 1, hi: int = MAX_DIM) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"expected an integer in [{lo}, {hi}], got {v!r}")
    return v


def _pair(v: Any, lo: int = 1, hi: int = 1024) -> list[int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v, v]
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {v!r}")
    return [_int(x, lo, hi) for x in v]


def _choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if isinstance(v, str) and v.lower() in options:
            return v.lower()
        raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true/false, got {v!r}")
    return v


def _rate(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ValueError(f"expected a rate in [0, 1), got {v!r}")
    return float(v)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"expected a number, got {v!r}")
    return float(v)


def _activation(v: Any) -> str:
    """A name; a TensorFlow function Keras could not name (``tf.nn.softmax`` is reported as
    ``{"class_name": "function", "config": "softmax_v2"}``) is read by its name, never loaded."""
    if v is None:
        return "linear"
    if isinstance(v, dict) and v.get("class_name") == "function" and isinstance(v.get("config"), str):
        name = v["config"].removesuffix("_v2")
        if name in ACTIVATIONS:
            return name
    if isinstance(v, str) and v in ACTIVATIONS:
        return v
    raise ValueError(f"activation {_short(v)} is not a standard Keras activation")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _initializer(v: Any) -> str | None:
    name = v.get("class_name") if isinstance(v, dict) else v
    return name if isinstance(name, str) and name in INITIALIZERS else None


def _channels_last(v: Any) -> str:
    if v in (None, "channels_last"):
        return "channels_last"
    raise ValueError("only data_format='channels_last' is supported")


def _axis(v: Any) -> int:
    if isinstance(v, (list, tuple)) and len(v) == 1:
        v = v[0]
    return _int(v, -1, 3)


def _padding2d(v: Any) -> list:
    """``1``, ``(1, 2)`` or ``((top, bottom), (left, right))``, each at least 0."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(p, (list, tuple)) for p in v):
        return [_pair(p, 0) for p in v]
    return _pair(v, 0)


def _shape(v: Any) -> list:
    if not isinstance(v, (list, tuple)) or not 0 < len(v) <= 4:
        raise ValueError(f"expected a shape, got {v!r}")
    return [None if x is None else _int(x, -1) for x in v]


_CONV = {"filters": _int, "kernel_size": _pair, "strides": _pair, "padding": _choice("valid", "same"),
         "dilation_rate": _pair, "groups": lambda v: _int(v, 1, 1), "use_bias": _bool,
         "activation": _activation, "data_format": _channels_last,
         "kernel_initializer": _initializer}
_POOL = {"pool_size": _pair, "strides": lambda v: None if v is None else _pair(v),
         "padding": _choice("valid", "same"), "data_format": _channels_last}

#: Keras class name -> (canonical kind, {argument: validator})
ALLOWED: dict[str, tuple[str, dict]] = {
    "InputLayer": ("InputLayer", {"batch_shape": _shape, "batch_input_shape": _shape}),
    "Conv2D": ("Conv2D", _CONV),
    "Dense": ("Dense", {"units": _int, "use_bias": _bool, "activation": _activation,
                        "kernel_initializer": _initializer}),
    "BatchNormalization": ("BatchNormalization", {"axis": _axis, "center": _bool, "scale": _bool,
                                                  "momentum": _float, "epsilon": _float}),
    "Activation": ("Activation", {"activation": _activation}),
    "ReLU": ("Activation", {"max_value": lambda v: v if v is None else _float(v),
                            "negative_slope": _float, "threshold": _float}),
    "Softmax": ("Activation", {"axis": _axis}),
    "LeakyReLU": ("LeakyReLU", {"negative_slope": _float}),
    "Dropout": ("Dropout", {"rate": _rate}),
    "SpatialDropout2D": ("SpatialDropout2D", {"rate": _rate}),
    "Flatten": ("Flatten", {"data_format": _channels_last}),
    "MaxPooling2D": ("MaxPooling2D", _POOL),
    "AveragePooling2D": ("AveragePooling2D", _POOL),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", {"data_format": _channels_last}),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", {"data_format": _channels_last}),
    "Reshape": ("Reshape", {"target_shape": _shape}),
    "ZeroPadding2D": ("ZeroPadding2D", {"padding": lambda v: _padding2d(v)}),
}
#: arguments without which a layer's output cannot be computed (Keras always reports them)
REQUIRED = {"Conv2D": ("filters", "kernel_size"), "Dense": ("units",),
            "Reshape": ("target_shape",), "ZeroPadding2D": ("padding",)}
ALIASES = {"Convolution2D": "Conv2D", "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}


def from_keras(class_name: str, config: dict) -> Layer:
    """Validate one reported layer; anything outside the allow-list is a clear error."""
    class_name = ALIASES.get(class_name, class_name)
    if class_name not in ALLOWED:
        raise DisallowedLayer(
            f"layer type {class_name!r} is not allowed: the grader accepts only standard "
            f"Keras layers ({', '.join(sorted(ALLOWED))})", layer=class_name)
    kind, validators = ALLOWED[class_name]
    name = config.get("name") if isinstance(config.get("name"), str) else ""
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


# --- shape and parameter inference ---------------------------------------------------------

def _spatial(size: int, k: int, s: int, padding: str, d: int = 1) -> int:
    if padding == "same":
        return -(-size // s)
    span = (k - 1) * d + 1
    return (size - span) // s + 1


def _conv_like(shape: Shape, k: list, s: list, padding: str, d: list, channels: int) -> Shape:
    if len(shape) != 4:
        raise InvalidModel(f"expects an image input (None, height, width, channels), got {_fmt(shape)}")
    h, w = (_spatial(shape[i + 1], k[i], s[i], padding, d[i]) for i in range(2))
    if h < 1 or w < 1:
        raise InvalidModel(f"the input {_fmt(shape)} is too small for this window: output would be "
                           f"{h}x{w}")
    return (None, h, w, channels)


def infer_one(layer: Layer, shape: Shape) -> tuple[Shape, int, int]:
    """Output shape, trainable and non-trainable parameter counts of ``layer`` on ``shape``."""
    a, k = layer.args, layer.kind
    trainable = non_trainable = 0
    if k == "Conv2D":
        out = _conv_like(shape, a["kernel_size"], a["strides"], a["padding"], a["dilation_rate"],
                         a["filters"])
        trainable = a["kernel_size"][0] * a["kernel_size"][1] * shape[-1] * a["filters"] \
            + (a["filters"] if a["use_bias"] else 0)
    elif k == "Dense":
        out = shape[:-1] + (a["units"],)
        trainable = shape[-1] * a["units"] + (a["units"] if a["use_bias"] else 0)
    elif k == "BatchNormalization":
        out = shape
        axis = a.get("axis", -1)
        if not 0 < axis % len(shape) < len(shape) or not -len(shape) <= axis < len(shape):
            raise InvalidModel(f"BatchNormalization: axis {axis} is not a feature axis of "
                               f"{_fmt(shape)}")
        features = shape[axis]  # normalized per entry of that axis (the channels for -1)
        trainable = features * (int(a["center"]) + int(a["scale"]))
        non_trainable = 2 * features
    elif k in ("MaxPooling2D", "AveragePooling2D"):
        out = _conv_like(shape, a["pool_size"], a["strides"], a["padding"], [1, 1], shape[-1])
    elif k in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
        if len(shape) != 4:
            raise InvalidModel(f"expects an image input, got {_fmt(shape)}")
        out = (None, shape[-1])
    elif k == "Flatten":
        out = (None, math.prod(shape[1:]))
    elif k == "Reshape":
        if any(x is None or x == 0 for x in a["target_shape"]):
            raise InvalidModel(f"Reshape: target shape {_fmt(tuple(a['target_shape']))} has an "
                               "unknown or empty dimension")
        out = _reshape(shape, a["target_shape"])
    elif k == "ZeroPadding2D":
        if len(shape) != 4:
            raise InvalidModel(f"expects an image input, got {_fmt(shape)}")
        p = a["padding"]
        (t, b), (l, r) = ([p, p], [p, p]) if isinstance(p, int) else \
            (p if isinstance(p[0], list) else ([p[0], p[0]], [p[1], p[1]]))
        out = (None, shape[1] + t + b, shape[2] + l + r, shape[3])
    elif k == "InputLayer":
        out = shape
    else:  # Activation, ReLU, LeakyReLU, Dropout, SpatialDropout2D: shape-preserving
        out = shape
    if a.get("frozen"):
        trainable, non_trainable = 0, trainable + non_trainable
    return tuple(out), trainable, non_trainable


def _reshape(shape: Shape, target: list) -> Shape:
    size = math.prod(shape[1:])
    known = math.prod(x for x in target if x not in (-1, None))
    if -1 in target:
        if size % known:
            raise InvalidModel(f"cannot reshape {_fmt(shape)} into {target}")
        target = [size // known if x == -1 else x for x in target]
    if math.prod(target) != size:
        raise InvalidModel(f"cannot reshape {_fmt(shape)} into {target}")
    return (None, *target)


def infer(layers: list[Layer], input_shape: Shape) -> list[LayerInfo]:
    """Run shape inference through a chain of layers, naming the layer that breaks it."""
    infos, shape = [], tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            out, tr, ntr = infer_one(layer, shape)
        except InvalidModel as exc:
            raise InvalidModel(f"layer {i + 1} ({layer.name or layer.kind}, {layer.describe()}): "
                               f"{exc.message}") from None
        infos.append(LayerInfo(layer, shape, out, tr, ntr))
        shape = out
    return infos


def totals(infos: list[LayerInfo]) -> dict:
    tr = sum(i.trainable for i in infos)
    ntr = sum(i.non_trainable for i in infos)
    return {"total": tr + ntr, "trainable": tr, "non_trainable": ntr}


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join("None" if x is None else str(x) for x in shape) + ")"


def fmt_shape(shape) -> str:
    return _fmt(tuple(shape))


def describe(kind: str, a: dict) -> str:
    if kind == "Conv2D":
        extra = "" if a.get("padding") == "valid" else f", padding='{a.get('padding')}'"
        extra += "" if a.get("activation") in (None, "linear") else f", activation='{a['activation']}'"
        extra += "" if a.get("strides") in (None, [1, 1]) else f", strides={tuple(a['strides'])}"
        k = a.get("kernel_size", ["?", "?"])
        return f"Conv2D({a.get('filters')}, {k[0]}x{k[1]}{extra})"
    if kind == "Dense":
        act = "" if a.get("activation") in (None, "linear") else f", activation='{a['activation']}'"
        return f"Dense({a.get('units')}{act})"
    if kind == "Activation":
        return f"Activation('{a.get('activation')}')"
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        p = a.get("pool_size", ["?", "?"])
        return f"{kind}({p[0]}x{p[1]})"
    if kind in ("Dropout", "SpatialDropout2D"):
        return f"{kind}({a.get('rate')})"
    if kind in ("ReLU", "LeakyReLU", "BatchNormalization"):  # the arguments that are not defaults
        defaults = {"max_value": None, "threshold": 0.0, "center": True, "scale": True, "axis": -1,
                    "negative_slope": 0.0 if kind == "ReLU" else 0.3}
        shown = [f"{k}={v!r}" for k, v in a.items() if k in defaults and v != defaults[k]]
        return f"{kind}({', '.join(shown)})"
    return f"{kind}()"
