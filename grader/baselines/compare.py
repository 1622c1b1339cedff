"""A result beside its exercise's baselines: ``Result.baselines`` (plain data, read by every
renderer).

The numbers are the grader's own: the baselines from ``baselines.json`` (the grading seed's
run, with the spread over the stored seeds) and the student's network from this grading's
verification training, trained with the same settings. The student's own logged history is
added as theirs (``own_log``), never mixed with the grader's rows. Nothing is trained here:
building this reads one cached file.
"""
from __future__ import annotations

import math
from typing import Any

from grader.baselines import store
from grader.baselines.train import REFERENCE_ID, gap

STUDENT = "student"


def beside(spec, result) -> dict | None:
    """``Result.baselines`` for ``result``, or None where the exercise has no measured
    baselines. Never raises: a damaged file shows no baselines, the grading goes on."""
    try:
        data = store.load(spec)
        return _beside(data, result) if data else None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


def _beside(data: dict, result) -> dict:
    settings = data.get("settings", {})
    rows = [_row(data, model_id) for model_id in data["models"] if model_id != REFERENCE_ID]
    rows.append(_student(result))
    course = [_course(data, model_id) for model_id in data["models"]]
    return {"measured": {"date": data.get("date"), "command": data.get("command"),
                         "epochs": settings.get("epochs"), "seeds": settings.get("seeds"),
                         "grading_seed": settings.get("grading_seed"),
                         "course_epochs": settings.get("course_epochs"),
                         "versions": data.get("versions")},
            "rows": [r for r in rows if r], "course": [r for r in course if r],
            "own_log": _own_log(result)}


def _row(data: dict, model_id: str) -> dict | None:
    run = store.grading_run(data, model_id)
    if run is None:
        return None
    model = data["models"][model_id]
    accuracies = store.accuracies(data, model_id)
    return {"id": model_id, "title": model.get("title", model_id), "who": "grader",
            "params": model.get("params"), "val_accuracy": run.get("val_accuracy"),
            "val_range": [min(accuracies), max(accuracies)] if accuracies else None,
            "gap": run.get("gap"), "curve": _curve(run, "val_accuracy"),
            "train_curve": _curve(run, "accuracy"), "epochs": run.get("epochs")}


def _course(data: dict, model_id: str) -> dict | None:
    run = store.grading_run(data, model_id, course=True)
    if run is None:
        return None
    model = data["models"][model_id]
    return {"id": model_id, "title": model.get("title", model_id), "params": model.get("params"),
            "val_accuracy": run.get("val_accuracy"), "gap": run.get("gap"),
            "epochs": run.get("epochs"), "curve": _curve(run, "val_accuracy")}


def _student(result) -> dict | None:
    training = result.training if isinstance(result.training, dict) else None
    if training is None or _num(training.get("val_accuracy")) is None:
        return {"id": STUDENT, "title": "your network", "who": "grader",
                "params": result.totals, "val_accuracy": None, "gap": None, "curve": [],
                "train_curve": [], "epochs": None, "val_range": None}
    return {"id": STUDENT, "title": "your network", "who": "grader", "params": result.totals,
            "val_accuracy": training["val_accuracy"], "gap": gap(training), "val_range": None,
            "curve": _curve(training, "val_accuracy"), "train_curve": _curve(training, "accuracy"),
            "epochs": training.get("epochs")}


def _own_log(result) -> dict | None:
    """The last epoch of the student's own logged run (theirs: other epochs, other code)."""
    history = result.student_history if isinstance(result.student_history, dict) else None
    if not history:
        return None
    train = _last(history, ("accuracy", "acc"))
    val = _last(history, ("val_accuracy", "val_acc"))
    if val is None:
        return None
    epochs = max((len(v) for v in history.values() if isinstance(v, list)), default=0)
    return {"val_accuracy": val, "accuracy": train, "epochs": epochs,
            "gap": None if train is None else round(train - val, 6),
            "source": result.student_history_source}


def _last(history: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        values = [v for v in history.get(key) or [] if _num(v) is not None]
        if values:
            return float(values[-1])
    return None


def _curve(run: dict, key: str) -> list[float | None]:
    values = (run.get("curves") or {}).get(key) or []
    return [_num(v) for v in values[:200]]


def _num(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None
