"""The reference spec: what the checks compare against, generated from the solution notebook.

A reference folder holds ``exercise.json`` (written by hand: notebook names, data file, points)
and ``spec.json`` (written by ``grader spec``: every layer of the solution with its shape and
parameters, which layers the students must add, totals, and the calibrated accuracy range).
Another exercise is another folder; no code here knows about cnn2.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import layers as L
from grader.exceptions import SpecError

SPEC_FILE = "spec.json"
EXERCISE_FILE = "exercise.json"
DEFAULT_POINTS = {"missing_layer": {"type": 1, "args": 1, "output_shape": 1, "params": 1},
                  "architecture": 2, "totals": 1, "accuracy": 3}


@dataclass
class Spec:
    exercise: str
    title: str
    data: dict
    input_shape: list
    layers: list[dict]
    #: indices into ``layers`` of the layers the student must add
    missing: list[int]
    totals: dict
    points: dict = field(default_factory=lambda: dict(DEFAULT_POINTS))
    training: dict | None = None
    generated: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def ref_layers(self) -> list[L.Layer]:
        return [L.Layer(d["type"], d["args"], d.get("name", ""), d.get("class_name", d["type"]))
                for d in self.layers]

    @property
    def sha256(self) -> str:
        """Identifies the spec in results, so a cached result is reused only for the same one."""
        body = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()

    def infos(self) -> list[L.LayerInfo]:
        return L.infer(self.ref_layers, tuple(self.input_shape))

    def max_score(self, verified: bool = True) -> float:
        """``verified=False``: without the verification training (``--no-verify``)."""
        per_layer = sum(self.points["missing_layer"].values())
        score = per_layer * len(self.missing) + self.points["architecture"] + self.points["totals"]
        return float(score + (self.points["accuracy"] if self.training and verified else 0))

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        return data

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Spec":
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILE
        try:
            data = json.loads(path.read_text())
            spec = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
            spec.infos()  # the spec must describe a model the grader can reason about
        except FileNotFoundError:
            raise SpecError(f"no reference spec at {path}: generate it with `grader spec "
                            f"{path.parent}`") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise SpecError(f"the reference spec {path} is not valid: {exc}") from None
        spec.path = str(path)
        return spec


def default_reference_dir() -> Path:
    """``GRADER_REFERENCE``, else the ``reference/`` folder of this checkout, else (an installed
    wheel) the one exercise packaged in ``grader/exercises/`` (``setup.py`` copies it there)."""
    env = os.environ.get("GRADER_REFERENCE")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "reference"
    packaged = sorted(p.parent for p in (here / "exercises").glob("*/" + SPEC_FILE))
    return packaged[0] if not checkout.is_dir() and len(packaged) == 1 else checkout


def load_exercise(folder: Path) -> dict:
    try:
        exercise = json.loads((folder / EXERCISE_FILE).read_text())
    except FileNotFoundError:
        raise SpecError(f"{folder} has no {EXERCISE_FILE}") from None
    except ValueError as exc:
        raise SpecError(f"{folder / EXERCISE_FILE} is not valid JSON: {exc}") from None
    for key in ("exercise", "template", "solution", "data"):
        if key not in exercise:
            raise SpecError(f"{folder / EXERCISE_FILE} lacks {key!r}")
    return exercise


def build(exercise: dict, solution: list[L.LayerInfo], template: list[L.LayerInfo],
          input_shape: tuple, generated: dict, training: dict | None = None) -> Spec:
    """The spec from the solution's layers; the missing ones are those the template lacks."""
    from grader.compare.align import align

    rows = align(solution, template)
    missing = [r for r, t in rows if r is not None and t is None]
    if not missing:
        raise SpecError("the template has every layer of the solution: nothing for students to add")
    return Spec(
        exercise=exercise["exercise"], title=exercise.get("title", exercise["exercise"]),
        data=exercise["data"], input_shape=list(input_shape),
        layers=[i.to_dict() for i in solution], missing=missing, totals=L.totals(solution),
        points=exercise.get("points", DEFAULT_POINTS), training=training, generated=generated)
