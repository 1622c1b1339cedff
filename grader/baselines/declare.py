"""The ``"baselines"`` an exercise declares in its ``exercise.json``: plain layer descriptions.

::

    "baselines": {"course_epochs": 8, "seeds": [1, 2, 3], "models": [
      {"id": "fc", "title": "...", "input": "flat" | "image",
       "layers": [{"kind": "Dense", "args": {"units": 500}}, ...],
       "optimizer": {"name": "adadelta", "learning_rate": 1.0}, "standardize": false}]}

A layer is a Keras class name and its config's arguments, read by the same allow-list as a
student's reported layer (``grader.layers.from_keras``): a baseline is built from nothing the
verification worker would not build for a student. Nothing of a particular exercise is here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from grader import layers as L
from grader.exceptions import GraderError, SpecError

#: optimizers a baseline may name (the verification worker's table: ``grader.verify.worker``)
OPTIMIZERS = ("adam", "adadelta", "sgd", "rmsprop")
INPUTS = ("flat", "image")


@dataclass(frozen=True)
class Baseline:
    """One declared reference model, validated; ``layers`` in the grader's canonical form."""

    id: str
    title: str
    input: str
    layers: list[L.Layer]
    optimizer: dict
    standardize: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    def input_shape(self, image_shape: list) -> list:
        """The model's input: the exercise's image shape, or its pixels in one row."""
        if self.input == "flat":
            return [None, math.prod(image_shape[1:])]
        return list(image_shape)

    def totals(self, image_shape: list) -> dict:
        return L.totals(L.infer(self.layers, tuple(self.input_shape(image_shape))))


@dataclass(frozen=True)
class Declaration:
    models: list[Baseline]
    seeds: tuple[int, ...]
    course_epochs: int


def declared(exercise: dict, image_shape: list, classes: int) -> Declaration | None:
    """The exercise's baselines, or None when it declares none; a ``SpecError`` names what is
    wrong (the model and the layer)."""
    block = exercise.get("baselines")
    if block is None:
        return None
    if not isinstance(block, dict) or not isinstance(block.get("models"), list):
        raise SpecError('"baselines" must be an object with a "models" list')
    seeds = block.get("seeds", [1, 2, 3])
    if not (isinstance(seeds, list) and seeds and all(type(s) is int for s in seeds)):
        raise SpecError('"baselines": "seeds" must be a list of whole numbers')
    course = block.get("course_epochs", 0)
    if type(course) is not int or course < 0:
        raise SpecError('"baselines": "course_epochs" must be a whole number (0: none)')
    models, seen = [], set()
    for i, raw in enumerate(block["models"]):
        model = _model(i, raw, image_shape, classes)
        if model.id in seen:
            raise SpecError(f"baseline {model.id!r} is declared twice")
        seen.add(model.id)
        models.append(model)
    return Declaration(models, tuple(seeds), course)


def _model(i: int, raw: object, image_shape: list, classes: int) -> Baseline:
    if not isinstance(raw, dict) or not str(raw.get("id", "")).strip():
        raise SpecError(f"baseline {i + 1}: needs an \"id\"")
    name = str(raw["id"])
    where = f"baseline {name!r}"
    if raw.get("input", "image") not in INPUTS:
        raise SpecError(f"{where}: \"input\" must be one of {', '.join(INPUTS)}")
    optimizer = raw.get("optimizer", {"name": "adam", "learning_rate": 0.001})
    if not isinstance(optimizer, dict) or optimizer.get("name") not in OPTIMIZERS or not \
            isinstance(optimizer.get("learning_rate"), (int, float)):
        raise SpecError(f"{where}: \"optimizer\" must be {{\"name\": one of "
                        f"{', '.join(OPTIMIZERS)}, \"learning_rate\": a number}}")
    if not isinstance(raw.get("layers"), list) or not raw["layers"]:
        raise SpecError(f"{where}: \"layers\" must be a non-empty list")
    layers = [_layer(where, j, spec) for j, spec in enumerate(raw["layers"])]
    model = Baseline(name, str(raw.get("title", name)), raw.get("input", "image"), layers,
                     {"name": optimizer["name"], "learning_rate": float(optimizer["learning_rate"])},
                     bool(raw.get("standardize", False)), str(raw.get("note", "")))
    try:
        infos = L.infer(layers, tuple(model.input_shape(image_shape)))
    except GraderError as exc:
        raise SpecError(f"{where}: {exc.message}") from None
    if tuple(infos[-1].output_shape) != (None, classes):
        raise SpecError(f"{where}: its output is {L.fmt_shape(infos[-1].output_shape)}, the "
                        f"{classes} classes need (None, {classes})")
    return model


def _layer(where: str, j: int, spec: object) -> L.Layer:
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise SpecError(f"{where}, layer {j + 1}: needs a \"kind\" (a Keras layer class)")
    args = spec.get("args", {})
    if not isinstance(args, dict):
        raise SpecError(f"{where}, layer {j + 1}: \"args\" must be an object")
    try:
        layer = L.from_keras(spec["kind"], dict(args))
    except GraderError as exc:
        raise SpecError(f"{where}, layer {j + 1}: {exc.message}") from None
    kind = str(spec["kind"])
    unknown = sorted(set(args) - set(L.ALLOWED[L.ALIASES.get(kind, kind)][1]))
    if unknown:
        raise SpecError(f"{where}, layer {j + 1} ({spec['kind']}): argument {unknown[0]!r} is "
                        "not one the grader builds")
    return layer
