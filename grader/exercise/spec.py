"""The reference spec: what the checks compare against, generated from the solution notebook.

A reference folder holds ``exercise.json`` (written by hand: notebook names, data file, the
checks with their points, the markers around the student's code) and ``spec.json`` (written by
``grader spec``: every layer of the solution with its shape and parameters, which layers the
students must add, totals, and the calibrated accuracy range; the checks and markers are copied
from ``exercise.json``). Another exercise is another folder (``reference/NAME/``, chosen with
``--exercise NAME``); the only thing here that knows cnn2 is its name as the default exercise.
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
from grader.answers import questions
from grader.exceptions import SpecError, UsageError

SPEC_FILE = "spec.json"
EXERCISE_FILE = "exercise.json"
#: the exercise graded when none is named (``--exercise``, ``check(exercise=...)``)
DEFAULT_EXERCISE = "cnn2"
#: one folder per exercise in a checkout; a built package has copies in ``PACKAGED_ROOT``
REFERENCE_ROOT = Path(__file__).resolve().parents[2] / "reference"
PACKAGED_ROOT = Path(__file__).resolve().parents[1] / "exercises"
#: the checks of an exercise that declares none (kind and points; see ``grader.checks.kind``);
#: the whole-network checks are paid only when the added layers earned points
#: (``grader.checks.rule``: the template alone earns nothing)
OWN_WORK = ["added_layers"]
DEFAULT_CHECKS: list[dict] = [
    {"kind": "added_layers", "points": {"type": 1, "args": 1, "output_shape": 1, "params": 1}},
    {"kind": "architecture", "points": 2, "requires": OWN_WORK},
    {"kind": "totals", "points": 1, "requires": OWN_WORK},
    {"kind": "accuracy", "points": 3, "requires": OWN_WORK}]
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
    #: the written questions (``grader.answers.questions``), copied from ``exercise.json``
    questions: list[dict] = field(default_factory=list)

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

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        if not data["questions"]:  # an exercise without questions keeps its identity
            data.pop("questions")
        return data

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Spec:
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILE
        try:
            data = json.loads(path.read_text())
            data.setdefault("checks", checks_of(data))
            spec = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
            spec.infos()  # the spec must describe a model the grader can reason about
            questions.validate(spec.questions)
        except FileNotFoundError:
            raise SpecError(f"no reference spec at {path}: generate it with `grader spec "
                            f"{path.parent}`") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise SpecError(f"the reference spec {path} is not valid: {exc}") from None
        spec.path = str(path)
        return spec


def exercises() -> dict[str, Path]:
    """Every exercise by name: the packaged ones (an installed wheel: ``grader/exercises/NAME``,
    copied there by ``setup.py``), else the folders of this checkout's ``reference/`` that hold
    an ``exercise.json`` (named by their path below ``reference/``, e.g. ``cnn2``)."""
    if PACKAGED_ROOT.is_dir():
        packaged = {p.parent.name: p.parent for p in PACKAGED_ROOT.glob("*/" + SPEC_FILE)}
        if packaged:
            return dict(sorted(packaged.items()))
    found = {p.parent.relative_to(REFERENCE_ROOT).as_posix(): p.parent
             for p in REFERENCE_ROOT.glob("**/" + EXERCISE_FILE)}
    return dict(sorted(found.items()))


def exercise_dir(name: str) -> Path:
    """The reference folder of the exercise ``name``; an unknown name is a usage error that
    lists the known ones (a typo must not grade against another exercise)."""
    known = exercises()
    if name not in known:
        listed = ", ".join(known) or "none"
        raise UsageError(f"unknown exercise {name!r}: the known exercises are {listed} "
                         "(a folder under reference/ with an exercise.json; any other folder: "
                         "--reference DIR)")
    return known[name]


def default_reference_dir() -> Path:
    """``GRADER_REFERENCE``, else the default exercise (``cnn2``), else the only one known."""
    env = os.environ.get("GRADER_REFERENCE")
    if env:
        return Path(env)
    known = exercises()
    if DEFAULT_EXERCISE in known or len(known) != 1:
        return known.get(DEFAULT_EXERCISE, REFERENCE_ROOT / DEFAULT_EXERCISE)
    return next(iter(known.values()))


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
    """The declared checks: ``"checks"``, else an older file's ``"points"`` object (read with
    the defaults' rule), else the defaults."""
    if "checks" in exercise:
        return exercise["checks"]
    if "points" not in exercise:
        return copy.deepcopy(DEFAULT_CHECKS)
    points = exercise["points"]
    checks = [{"kind": kind, "points": points[name]} for name, kind in LEGACY_KINDS.items()
              if name in points]
    if any(c["kind"] == OWN_WORK[0] for c in checks):  # the same rule as the defaults
        for check in checks:
            if check["kind"] != OWN_WORK[0]:
                check["requires"] = list(OWN_WORK)
    return checks
