"""``baselines.json`` beside ``spec.json``: read once per file (the reports only read it).

Reading it is the whole cost a report pays for the baselines: no training per submission.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

BASELINES_FILE = "baselines.json"


def path_for(spec) -> Path | None:
    """Where the spec's baselines lie (beside its ``spec.json``), if the spec has a path."""
    where = getattr(spec, "path", None)
    return Path(where).parent / BASELINES_FILE if where else None


def load(spec) -> dict | None:
    """The measured baselines of the spec's exercise, or None when none were measured (or the
    file is unreadable: the reports then show no baselines, grading goes on)."""
    path = path_for(spec)
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return _read(str(path), stat.st_mtime_ns, stat.st_size) if stat else None


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("models"), dict) else None


def accuracies(data: dict, model_id: str, course: bool = False) -> list[float]:
    """The validation accuracies measured for one model over its seeds."""
    runs = (data.get("models", {}).get(model_id) or {}).get("course" if course else "verification")
    return [float(r["val_accuracy"]) for r in runs or [] if r.get("val_accuracy") is not None]


def grading_run(data: dict, model_id: str, course: bool = False) -> dict | None:
    """The run with the grading seed (the one a student's verification uses), else the first."""
    runs = (data.get("models", {}).get(model_id) or {}).get("course" if course else "verification")
    if not runs:
        return None
    seed = data.get("settings", {}).get("grading_seed")
    return next((r for r in runs if r.get("seed") == seed), runs[0])
