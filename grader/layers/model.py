"""The validated layer and what the grader computed for it: plain, frozen data.

A ``Layer`` is made only by ``grader.layers.canonical.from_keras`` (from a reported config)
or rebuilt from the spec; a ``LayerInfo`` only by ``grader.layers.shapes.infer``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.layers.describe import describe

Shape = tuple  # (None, d1, d2, ...), batch first


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

