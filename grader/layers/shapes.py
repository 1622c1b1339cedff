"""Shape and parameter inference: the grader computes every output shape and parameter count
itself, so a tampered report cannot claim numbers it did not earn."""
from __future__ import annotations

import math

from grader.exceptions import InvalidModel
from grader.layers.model import Layer, LayerInfo, Shape


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

