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


Counts = tuple  # (output shape, trainable, non-trainable)


def _conv2d(a: dict, shape: Shape) -> Counts:
    out = _conv_like(shape, a["kernel_size"], a["strides"], a["padding"], a["dilation_rate"],
                     a["filters"])
    kernel = a["kernel_size"][0] * a["kernel_size"][1] * shape[-1] * a["filters"]
    return out, kernel + (a["filters"] if a["use_bias"] else 0), 0


def _dense(a: dict, shape: Shape) -> Counts:
    weights = shape[-1] * a["units"] + (a["units"] if a["use_bias"] else 0)
    return shape[:-1] + (a["units"],), weights, 0


def _batchnorm(a: dict, shape: Shape) -> Counts:
    axis = a.get("axis", -1)
    if not 0 < axis % len(shape) < len(shape) or not -len(shape) <= axis < len(shape):
        raise InvalidModel(f"BatchNormalization: axis {axis} is not a feature axis of "
                           f"{_fmt(shape)}")
    features = shape[axis]  # normalized per entry of that axis (the channels for -1)
    return shape, features * (int(a["center"]) + int(a["scale"])), 2 * features


def _pooling(a: dict, shape: Shape) -> Counts:
    return _conv_like(shape, a["pool_size"], a["strides"], a["padding"], [1, 1], shape[-1]), 0, 0


def _global_pooling(a: dict, shape: Shape) -> Counts:
    _image(shape)
    return (None, shape[-1]), 0, 0


def _flatten(a: dict, shape: Shape) -> Counts:
    return (None, math.prod(shape[1:])), 0, 0


def _reshape_layer(a: dict, shape: Shape) -> Counts:
    if any(x is None or x == 0 for x in a["target_shape"]):
        raise InvalidModel(f"Reshape: target shape {_fmt(tuple(a['target_shape']))} has an "
                           "unknown or empty dimension")
    return _reshape(shape, a["target_shape"]), 0, 0


def _zero_padding(a: dict, shape: Shape) -> Counts:
    _image(shape)
    p = a["padding"]
    (top, bottom), (left, right) = ([p, p], [p, p]) if isinstance(p, int) else \
        (p if isinstance(p[0], list) else ([p[0], p[0]], [p[1], p[1]]))
    return (None, shape[1] + top + bottom, shape[2] + left + right, shape[3]), 0, 0


def _image(shape: Shape) -> None:
    if len(shape) != 4:
        raise InvalidModel(f"expects an image input, got {_fmt(shape)}")


#: kind -> its rule; every other kind (InputLayer, Activation, ReLU, LeakyReLU, Dropout,
#: SpatialDropout2D) keeps its input's shape and has no parameters
RULES = {"Conv2D": _conv2d, "Dense": _dense, "BatchNormalization": _batchnorm,
         "MaxPooling2D": _pooling, "AveragePooling2D": _pooling,
         "GlobalMaxPooling2D": _global_pooling, "GlobalAveragePooling2D": _global_pooling,
         "Flatten": _flatten, "Reshape": _reshape_layer, "ZeroPadding2D": _zero_padding}


def infer_one(layer: Layer, shape: Shape) -> tuple[Shape, int, int]:
    """Output shape, trainable and non-trainable parameter counts of ``layer`` on ``shape``."""
    rule = RULES.get(layer.kind)
    out, trainable, non_trainable = rule(layer.args, shape) if rule else (shape, 0, 0)
    if layer.args.get("frozen"):
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

