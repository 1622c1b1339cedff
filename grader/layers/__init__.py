"""An allow-list of standard Keras layers, rebuilt from plain data.

One job per module: ``allowlist`` (which classes and arguments; the verification worker's
builders are derived from it), ``validators`` (each argument's check), ``canonical`` (a
reported config to a validated ``Layer``), ``shapes`` (output shapes and parameter counts),
``describe`` (the short human form) and ``model`` (the ``Layer``/``LayerInfo`` data). Callers
keep writing ``from grader import layers as L; L.from_keras(...)``: the names are re-exported.
"""
from __future__ import annotations

from grader.layers.allowlist import ALIASES, ALLOWED, REQUIRED, TRAINING_ONLY, builders
from grader.layers.canonical import from_keras
from grader.layers.describe import describe
from grader.layers.model import Layer, LayerInfo, Shape
from grader.layers.shapes import fmt_shape, infer, infer_one, totals
from grader.layers.validators import ACTIVATIONS, INITIALIZERS, MAX_DIM

__all__ = ["ACTIVATIONS", "ALIASES", "ALLOWED", "INITIALIZERS", "MAX_DIM", "REQUIRED", "TRAINING_ONLY", "Layer",
           "LayerInfo", "Shape", "builders", "describe", "fmt_shape", "from_keras", "infer",
           "infer_one", "totals"]
