"""``Result.baselines`` shaped for the report, the terminal line and the index page.

Presentation only: the numbers come from ``grader.baselines.compare`` (the grader's own
measurements) and the cohort's verification accuracies; the student's own logged run is
labelled as theirs.
"""
from __future__ import annotations

import statistics
from typing import Any

from grader.render import plots
from grader.util.text import plain

OWN_LABEL = "your own run (logged in your notebook)"


def _pct(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{v:.3f}"


def _gap(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{v:+.3f}"


def _params(p: Any) -> str:
    return f"{p['total']:,}" if isinstance(p, dict) and isinstance(p.get("total"), int) else "–"


def report(result) -> dict | None:
    """The report's "compared with the course's networks" section, or None."""
    b = result.baselines if isinstance(result.baselines, dict) else None
    if not b:
        return None
    rows = [_row(r) for r in b.get("rows", [])]
    course = [_row(r) for r in b.get("course", [])]
    own = b.get("own_log")
    return {"rows": rows, "course": course, "measured": b.get("measured", {}),
            "own": None if not own else {"val": _pct(own.get("val_accuracy")),
                                         "gap": _gap(own.get("gap")), "epochs": own.get("epochs"),
                                         "label": OWN_LABEL},
            "plot": _plot(b, result)}


def _row(r: dict) -> dict:
    rng = r.get("val_range")
    return {"id": r.get("id"), "title": plain(str(r.get("title", ""))),
            "student": r.get("id") == "student", "params": _params(r.get("params")),
            "val": _pct(r.get("val_accuracy")), "gap": _gap(r.get("gap")),
            "epochs": r.get("epochs"),
            "range": f"{rng[0]:.3f}–{rng[1]:.3f}" if isinstance(rng, list) and len(rng) == 2 else ""}


def lines(b: dict, result) -> list[dict]:
    """The plot's lines: the baselines' longest grader runs, the student's network as the
    grader trained it, and the student's own logged run (dashed, labelled theirs)."""
    course = {r["id"]: r for r in b.get("course", [])}
    out = []
    for r in b.get("rows", []):
        if r.get("id") == "student":
            continue
        longer = course.get(r["id"])
        run = longer if longer and len(longer.get("curve") or []) > len(r.get("curve") or []) else r
        out.append({"label": f"{r.get('title')} (grader)", "values": run.get("curve"),
                    "style": "grader"})
    if "reference" in course:
        out.append({"label": f"{course['reference'].get('title')} (grader)",
                    "values": course["reference"].get("curve"), "style": "grader"})
    student = next((r for r in b.get("rows", []) if r.get("id") == "student"), None)
    if student and student.get("curve"):
        out.append({"label": "your network (grader's verification)", "values": student["curve"],
                    "style": "student"})
    history = result.student_history if isinstance(result.student_history, dict) else {}
    own = history.get("val_accuracy") or history.get("val_acc")
    if own:
        out.append({"label": OWN_LABEL, "values": own, "style": "own"})
    return out


def _plot(b: dict, result) -> str | None:
    try:
        return plots.comparison(lines(b, result))
    except (ValueError, TypeError, OverflowError, RuntimeError):
        return None


def terminal_line(result) -> str | None:
    """One line: the student's network beside the baselines (grader's numbers)."""
    b = result.baselines if isinstance(result.baselines, dict) else None
    if not b or not b.get("rows"):
        return None
    parts = []
    for r in b["rows"]:
        name = "yours" if r.get("id") == "student" else str(r.get("id"))
        parts.append(f"{name} {_pct(r.get('val_accuracy'))} (gap {_gap(r.get('gap'))}, "
                     f"{_params(r.get('params'))} params)")
    epochs = b.get("measured", {}).get("epochs")
    return (f"beside the course's networks (grader's training, {epochs} epoch"
            f"{'s' * (epochs != 1)}, validation accuracy): " + "; ".join(parts))


def index(results: list) -> dict | None:
    """The cohort's verification accuracies beside the baselines (the first result's file)."""
    b = next((r.baselines for r in results if isinstance(r.baselines, dict)), None)
    if not b:
        return None
    accs = [r.training["val_accuracy"] for r in results
            if isinstance(r.training, dict) and isinstance(r.training.get("val_accuracy"), float)]
    cohort = None
    if accs:
        q = statistics.quantiles(accs, n=4) if len(accs) > 1 else [accs[0]] * 3
        cohort = {"n": len(accs), "median": _pct(statistics.median(accs)), "min": _pct(min(accs)),
                  "max": _pct(max(accs)), "q1": _pct(q[0]), "q3": _pct(q[2]),
                  "beat": {r["id"]: sum(a > r["val_accuracy"] for a in accs)
                           for r in b.get("rows", []) if r.get("id") != "student"
                           and isinstance(r.get("val_accuracy"), (int, float))}}
    rows = [_row(r) for r in b.get("rows", []) if r.get("id") != "student"]
    try:
        marks = [(plain(str(r.get("title", ""))), r["val_accuracy"]) for r in b.get("rows", [])
                 if r.get("id") != "student" and isinstance(r.get("val_accuracy"), (int, float))]
        plot = plots.cohort_accuracy(accs, marks) if accs else None
    except (ValueError, TypeError, OverflowError, RuntimeError):
        plot = None
    return {"rows": rows, "cohort": cohort, "measured": b.get("measured", {}), "plot": plot}
