"""The reference spec: what the checks compare against, generated from the solution notebook.

A reference folder holds ``exercise.json`` (written by hand: notebook names, data file, the
checks with their points, the markers around the student's code) and ``spec.json`` (written by
``grader spec``: every layer of the solution with its shape and parameters, which layers the
students must add, totals, and the calibrated accuracy range; the checks and markers are copied
from ``exercise.json``). Another exercise is another folder; no code here knows about cnn2.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader import layers as L
from grader.exceptions import SpecError

SPEC_FILE = "spec.json"
EXERCISE_FILE = "exercise.json"
#: the checks of an exercise that declares none (kind and points; see ``grader.score.checks``)
DEFAULT_CHECKS = [{"kind": "added_layers",
                   "points": {"type": 1, "args": 1, "output_shape": 1, "params": 1}},
                  {"kind": "architecture", "points": 2}, {"kind": "totals", "points": 1},
                  {"kind": "accuracy", "points": 3}]
#: an older exercise's ``"points"`` object: its names, in the order its checks were made, and
#: the kinds they are now
LEGACY_KINDS = {"missing_layer": "added_layers", "architecture": "architecture",
                "totals": "totals", "accuracy": "accuracy"}


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
    #: the declared checks, in the report's order: [{"kind": ..., "points": ...}]
    checks: list[dict] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CHECKS))
    #: the comments around the student's code in the notebook: {"start": ..., "end": ...}
    markers: dict = field(default_factory=dict)
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

    @property
    def points(self) -> dict[str, Any]:
        """The declared points by check kind (``{"accuracy": 3, ...}``)."""
        return {c["kind"]: c.get("points", 0) for c in self.checks}

    @property
    def marker(self) -> str | None:
        """The comment after which the student's code goes (named in hints), if declared."""
        return self.markers.get("start")

    def infos(self) -> list[L.LayerInfo]:
        return L.infer(self.ref_layers, tuple(self.input_shape))

    def max_score(self, verified: bool = True) -> float:
        """The sum of the declared checks' maximum points; ``verified=False``: without the
        verification training (``--no-verify``)."""
        from grader.score import registry

        return registry.max_score(self, verified)

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
            data.setdefault("checks", checks_of(data))
            spec = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
            spec.infos()  # the spec must describe a model the grader can reason about
            spec.max_score()  # and declare only check kinds the grader knows
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


def checks_of(exercise: dict) -> list[dict]:
    """The declared checks: ``"checks"``, else an older file's ``"points"`` object, else the
    defaults."""
    if "checks" in exercise:
        return exercise["checks"]
    if "points" not in exercise:
        return copy.deepcopy(DEFAULT_CHECKS)
    points = exercise["points"]
    return [{"kind": kind, "points": points[name]} for name, kind in LEGACY_KINDS.items()
            if name in points]


def build(exercise: dict, solution: list[L.LayerInfo], template: list[L.LayerInfo],
          input_shape: tuple, generated: dict, training: dict | None = None) -> Spec:
    """The spec from the solution's layers; the missing ones are those the template lacks."""
    from grader.compare.align import align

    rows = align(solution, template)
    missing = [r for r, t in rows if r is not None and t is None]
    if not missing:
        raise SpecError("the template has every layer of the solution: nothing for students to add")
    spec = Spec(
        exercise=exercise["exercise"], title=exercise.get("title", exercise["exercise"]),
        data=exercise["data"], input_shape=list(input_shape),
        layers=[i.to_dict() for i in solution], missing=missing, totals=L.totals(solution),
        checks=checks_of(exercise), markers=exercise.get("markers", {}), training=training,
        generated=generated)
    spec.max_score()  # declares only check kinds the grader knows
    return spec
