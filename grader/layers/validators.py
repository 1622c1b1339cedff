"""Argument validators for the allow-list: each reads one value of a reported ``get_config()``.

A value from the kernel is untrusted data: a validator either returns it in one plain form
(ints, lists, lower-case names) or raises ``ValueError`` with what it expected, which the
caller turns into an ``InvalidModel`` naming the layer and the argument.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


def integer(v: Any, lo: int = 1, hi: int = MAX_DIM) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"expected an integer in [{lo}, {hi}], got {v!r}")
    return v


def pair(v: Any, lo: int = 1, hi: int = 1024) -> list[int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v, v]
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {v!r}")
    return [integer(x, lo, hi) for x in v]


def choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if isinstance(v, str) and v.lower() in options:
            return v.lower()
        raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
    return check


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true/false, got {v!r}")
    return v


def rate(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ValueError(f"expected a rate in [0, 1), got {v!r}")
    return float(v)


def number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"expected a number, got {v!r}")
    return float(v)


def activation(v: Any) -> str:
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


def initializer(v: Any) -> str | None:
    name = v.get("class_name") if isinstance(v, dict) else v
    return name if isinstance(name, str) and name in INITIALIZERS else None


def channels_last(v: Any) -> str:
    if v in (None, "channels_last"):
        return "channels_last"
    raise ValueError("only data_format='channels_last' is supported")


def axis(v: Any) -> int:
    if isinstance(v, (list, tuple)) and len(v) == 1:
        v = v[0]
    return integer(v, -1, 3)


def padding2d(v: Any) -> list:
    """``1``, ``(1, 2)`` or ``((top, bottom), (left, right))``, each at least 0."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(p, (list, tuple)) for p in v):
        return [pair(p, 0) for p in v]
    return pair(v, 0)


def shape(v: Any) -> list:
    if not isinstance(v, (list, tuple)) or not 0 < len(v) <= 4:
        raise ValueError(f"expected a shape, got {v!r}")
    return [None if x is None else integer(x, -1) for x in v]


def training_object(v: Any) -> str | None:
    """A regularizer or constraint (``kernel_regularizer=``, ``kernel_constraint=``): none, or
    its class name. It changes what a training does with the weights, not the layer's output on
    given weights, so the grader reads it only to say that the layer differs from the
    reference's (which has none); the verification never rebuilds it."""
    if v is None:
        return None
    if isinstance(v, dict):
        name = v.get("class_name")
        return name[:100] if isinstance(name, str) and name else "a custom object"
    return v[:100] if isinstance(v, str) and v else "a custom object"

