"""Every single plausible mutation of the layers to add, generated from the spec and built in Keras.

A mutation is a list of Keras layer recipes for the block around the layers to add (the template
layer before it, the layers to add, the template layer after it). The grader sees each one the
way it sees a notebook's model: through the real Keras ``get_config()``, made plain JSON. The
same recipes build real Keras models for the oracle (``test_equivalence_oracle``).

Which mutations compute the same function is written here by hand (``EQUIVALENT``), from the
table in docs/how-it-works.md, never derived from the grader's code.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from grader import layers as L  # noqa: E402

#: a recipe: (Keras class name, keyword arguments, index in the reference block whose weights it
#: takes where they fit, or None for fresh weights)
Recipe = tuple


@dataclass(frozen=True)
class Mutant:
    """One change to the block; ``names`` are words its first hint must contain."""

    label: str
    block: tuple
    names: tuple = ()
    equivalent: bool = False


#: other valid values tried for each argument of the allow-list (those equal to the reference's
#: value are skipped)
VALUES = {
    "filters": [32, 128], "kernel_size": [1, 5, (3, 1)], "strides": [1, 2, (1, 2)],
    "padding": ["valid", "same"], "dilation_rate": [1, 2], "use_bias": [True, False],
    "activation": sorted(L.ACTIVATIONS), "center": [True, False], "scale": [True, False],
    "axis": [1, 2, 3], "pool_size": [1, 2, 3, (2, 1)], "momentum": [0.9],
}
#: allow-list arguments not mutated, and why: they do not change what the layer computes in a
#: chain of standard layers (or only one value is valid)
NOT_MUTATED = {"data_format": "only channels_last is accepted", "groups": "only 1 is accepted",
               "kernel_initializer": "weights are trained anew", "epsilon": "tolerated by decision",
               # regularizers and constraints change a training, not the output on given
               # weights (the oracle cannot tell them apart): tests/deception.py has them
               **{arg: "training only" for arg in (*L.TRAINING_ONLY, "gamma_regularizer",
                                                   "beta_regularizer", "gamma_constraint",
                                                   "beta_constraint")}}
#: same-shape layers tried in place of each layer to add
SUBSTITUTES = {
    "Conv2D": [("Dense", {"units": 64})],
    "MaxPooling2D": [("AveragePooling2D", {"pool_size": 2})],
    "*": [("Activation", {"activation": "relu"}), ("BatchNormalization", {}),
          ("Dropout", {"rate": 0.25}), ("SpatialDropout2D", {"rate": 0.25}), ("LeakyReLU", {}),
          ("ReLU", {"max_value": 6.0}), ("ReLU", {"threshold": 0.5})],
}
#: the mutations that compute the same function (docs/how-it-works.md, "What counts as the same
#: layer")
EQUIVALENT = {
    "MaxPooling2D padding='same'", "BatchNormalization momentum=0.9", "BatchNormalization axis=3",
    "swap Activation and MaxPooling2D", "duplicate Activation",
}


def block_recipes(spec) -> list[Recipe]:
    """The reference block: the layer before the layers to add, those layers, the layer after."""
    lo, hi = min(spec.missing) - 1, max(spec.missing) + 1
    return [(d["class_name"], _kwargs(d["args"]), k) for k, d in enumerate(spec.layers[lo:hi + 1])]


def _kwargs(args: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()
            if k not in ("kernel_initializer", "frozen")}


def mutants(spec) -> list[Mutant]:
    """Arguments, substitutes, neighbour swaps, removals and duplications of each layer to add."""
    ref = block_recipes(spec)
    added = range(1, len(ref) - 1)
    out = []
    for k in added:
        cls, kw, _ = ref[k]
        out += _argument_mutants(ref, k)
        for sub_cls, sub_kw in SUBSTITUTES.get(cls, []) + (SUBSTITUTES["*"] if cls in (
                "BatchNormalization", "Activation") else []):
            if sub_cls != cls:
                out.append(Mutant(f"{sub_cls}{sub_kw} for {cls}", _put(ref, k, (sub_cls, sub_kw, k)),
                                  (cls,)))
        out.append(Mutant(f"remove {cls}", tuple(r for j, r in enumerate(ref) if j != k), ("add", cls)))
        out.append(Mutant(f"duplicate {cls}", tuple(ref[:k + 1] + ref[k:]), ("extra", cls),
                          f"duplicate {cls}" in EQUIVALENT))
    for k in range(0, len(ref) - 1):
        a, b = ref[k][0], ref[k + 1][0]
        swapped = ref[:k] + [ref[k + 1], ref[k]] + ref[k + 2:]
        label = f"swap {a} and {b}"
        out.append(Mutant(label, tuple(swapped), (a, b), label in EQUIVALENT))
    return out


def _argument_mutants(ref: list, k: int) -> list[Mutant]:
    cls, kw, _ = ref[k]
    out = []
    for arg in L.ALLOWED[cls][1]:
        if arg in NOT_MUTATED:
            continue
        assert arg in VALUES, f"allow-list argument {cls}.{arg} has no mutation values"
        for value in VALUES[arg]:
            if _same(value, kw.get(arg, _default(cls, arg))):
                continue
            label = f"{cls} {arg}={value!r}"
            recipe = (cls, {**kw, arg: value}, k)
            # an Activation is named by its function, as Keras reports it ('swish' is 'silu')
            names = (cls, reported(keras_layer(recipe))[1][arg] if cls == "Activation" else arg)
            out.append(Mutant(label, _put(ref, k, recipe), names,
                              label in EQUIVALENT))
    return out


def _default(cls: str, arg: str):
    return getattr(keras.layers, cls)(**_minimal(cls)).get_config().get(arg)


def _minimal(cls: str) -> dict:
    return {"Conv2D": {"filters": 1, "kernel_size": 1}, "MaxPooling2D": {},
            "Activation": {"activation": "linear"}}.get(cls, {})


def _same(a, b) -> bool:
    def pair(v):
        if isinstance(v, int) and not isinstance(v, bool):
            return (v, v)
        return tuple(v) if isinstance(v, (list, tuple)) else v

    return pair(a) == pair(b)


def _put(ref: list, k: int, recipe: Recipe) -> tuple:
    return tuple(ref[:k] + [recipe] + ref[k + 1:])


def spellings(spec) -> list[Mutant]:
    """Other ways to write the layers to add that the table says are the same layer."""
    ref = block_recipes(spec)
    kinds = {r[0]: k for k, r in enumerate(ref[1:-1], start=1)}
    conv, act, pool = kinds.get("Conv2D"), kinds.get("Activation"), kinds.get("MaxPooling2D")
    out = []
    def add(label, k, recipe):
        out.append(Mutant(label, _put(ref, k, recipe), (), True))
    if act is not None:
        add("Activation(tf.nn.relu)", act, ("Activation", {"activation": tf.nn.relu}, act))
        add("Activation(keras.activations.relu)", act, ("Activation", {"activation": keras.activations.relu}, act))
        add("ReLU()", act, ("ReLU", {}, act))
        add("LeakyReLU(negative_slope=0)", act, ("LeakyReLU", {"negative_slope": 0.0}, act))
    if conv is not None:
        kw = ref[conv][1]
        add("Conv2D kernel_size as int", conv, ("Conv2D", {**kw, "kernel_size": kw["kernel_size"][0]}, conv))
        add("Conv2D activation=None", conv, ("Conv2D", {**kw, "activation": None}, conv))
        add("Conv2D glorot initializer", conv, ("Conv2D", {**kw, "kernel_initializer": "glorot_uniform"}, conv))
        add("Conv2D strides as int", conv, ("Conv2D", {**kw, "strides": 1}, conv))
    if pool is not None:
        size = ref[pool][1]["pool_size"]
        add("MaxPool2D()", pool, ("MaxPool2D", {}, pool))
        add("MaxPooling2D(int)", pool, ("MaxPooling2D", {"pool_size": size[0]}, pool))
        add("MaxPooling2D strides written out", pool,
            ("MaxPooling2D", {"pool_size": size, "strides": size}, pool))
    return out


def keras_layer(recipe: Recipe) -> keras.layers.Layer:
    cls, kw, _ = recipe
    return getattr(keras.layers, cls)(**kw)


def reported(layer: keras.layers.Layer) -> tuple[str, dict]:
    """What the kernel reports for a layer: its class name and plain-JSON config."""
    config = json.loads(json.dumps(layer.get_config(), default=str))
    return type(layer).__name__, config


def grader_layers(spec, block: tuple) -> list[L.Layer]:
    """The whole student chain as the grader rebuilds it: template layers plus the block."""
    lo, hi = min(spec.missing) - 1, max(spec.missing) + 1
    ref = spec.ref_layers
    middle = [L.from_keras(*reported(keras_layer(r))) for r in block]
    return ref[:lo] + middle + ref[hi + 1:]
