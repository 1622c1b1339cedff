"""What every output says about where a submission came from and whether it was late.

One place for the words, so the index, ``grades.csv`` and the gradebooks agree: the LMS's
original file name, the student's name, the late flag and time, and the late deduction (shown
apart from the earned score, never folded into it silently).
"""
from __future__ import annotations

from grader.result import Result
from grader.util.text import plain

#: columns ``grades.csv`` gains when a batch came from an LMS export or has a late policy
COLUMNS = ("original_name", "lms_name", "submission_id", "late", "submitted_at", "late_penalty",
           "final_score", "superseded")


def has_origin(results: list[Result]) -> bool:
    return any(r.origin or r.late for r in results)


def final_score(result: Result) -> float:
    """The score a gradebook imports: the earned score less any late deduction."""
    return float(result.late["final_score"]) if result.late else result.score


def cells(result: Result) -> list[str]:
    origin, late = result.origin or {}, result.late or {}
    flag = "" if not late and origin.get("late") is None else \
        ("late" if late.get("late", origin.get("late")) else "on time")
    return [plain(origin.get("original_name") or "", one_line=True),
            plain(origin.get("name") or "", one_line=True),
            plain(origin.get("submission_id") or "", one_line=True), flag,
            plain(late.get("submitted_at") or origin.get("submitted_at") or "", one_line=True),
            f"{late['points']:g}" if late else "", f"{final_score(result):g}",
            plain("; ".join(origin.get("superseded") or []), one_line=True)]


def line(result: Result) -> str:
    """One short line for the index: file, name, late and its deduction."""
    origin, late = result.origin or {}, result.late or {}
    parts = [plain(origin.get(k) or "", one_line=True) for k in ("original_name", "name")]
    if late.get("late") or origin.get("late"):
        when = late.get("submitted_at") or origin.get("submitted_at")
        parts.append("LATE" + (f" ({plain(when, one_line=True)})" if when else ""))
        if late.get("points"):
            parts.append(f"−{late['points']:g} late ({plain(late['rule'], one_line=True)}): "
                         f"{late['final_score']:g}")
    if origin.get("superseded"):
        parts.append(f"{len(origin['superseded'])} older submission(s) not graded")
    return " · ".join(p for p in parts if p)
