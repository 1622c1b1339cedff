"""The late policy: how many points a late submission loses, kept apart from what it earned.

Declared by the instructor in the exercise's ``exercise.json`` (the file ``grade`` already reads
for Gradescope's visibility) under ``late_policy``; without it nothing is deducted and the late
flag is only shown::

    "late_policy": {"deadline": "2026-01-31T23:59:00+01:00", "percent_per_day": 10,
                    "percent": 10, "max_percent": 50, "cap_percent": null}

- ``deadline`` (ISO 8601 with an offset): with a submission time (Gradescope's metadata), a
  submission after it is late, by whole started days; without a time, the LMS's own late flag
  (Canvas ``LATE``) counts.
- ``percent_per_day``: off the earned score per started day late (needs a time and a deadline);
  ``percent``: off a late submission whose lateness in days is unknown (a flag only); both at
  most ``max_percent``.
- ``cap_percent``: a late submission scores at most this percentage of the maximum.

The result keeps ``score`` (earned) untouched; ``late`` holds the flag, the time, the days, the
deduction and ``final_score``. Gradebooks import ``final_score``; every report shows both.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.exceptions import UsageError

KEY = "late_policy"
EXERCISE_FILE = "exercise.json"


@dataclass(frozen=True)
class LatePolicy:
    deadline: dt.datetime | None = None
    percent_per_day: float = 0.0
    percent: float = 0.0
    max_percent: float = 100.0
    cap_percent: float | None = None

    @classmethod
    def from_dict(cls, data: dict) -> LatePolicy:
        unknown = set(data) - {"deadline", "percent_per_day", "percent", "max_percent",
                               "cap_percent"}
        if unknown:
            raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
        deadline = data.get("deadline")
        when = dt.datetime.fromisoformat(deadline) if deadline else None
        if when is not None and when.tzinfo is None:
            raise ValueError("deadline needs a UTC offset (e.g. 2026-01-31T23:59:00+01:00)")
        numbers = {k: float(data[k]) for k in ("percent_per_day", "percent", "max_percent")
                   if data.get(k) is not None}
        cap = data.get("cap_percent")
        policy = cls(when, **numbers, cap_percent=None if cap is None else float(cap))
        values = [policy.percent_per_day, policy.percent, policy.max_percent,
                  *([policy.cap_percent] if policy.cap_percent is not None else [])]
        if any(not 0 <= v <= 100 for v in values):
            raise ValueError("percentages must lie between 0 and 100")
        return policy


def load(reference: Path | None) -> LatePolicy | None:
    """``late_policy`` from ``reference/exercise.json``; a bad one stops ``grade`` (exit 2)."""
    path = Path(reference) / EXERCISE_FILE if reference is not None else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8")).get(KEY)
        return LatePolicy.from_dict(data) if data else None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: {KEY}: {exc}") from None


def _time(text: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    return when if when is None or when.tzinfo is not None else None


def assess(origin: dict | None, score: float, max_score: float,
           policy: LatePolicy | None) -> dict | None:
    """``{late, submitted_at, days_late, percent, points, final_score, rule}`` or None when the
    export says nothing of lateness and no policy can tell."""
    origin = origin or {}
    submitted = _time(origin.get("submitted_at"))
    days = None
    if policy is not None and policy.deadline is not None and submitted is not None:
        late = submitted > policy.deadline
        days = math.ceil((submitted - policy.deadline) / dt.timedelta(days=1)) if late else 0
    elif origin.get("late") is None:
        return None
    else:
        late = bool(origin["late"])
    percent, rule = 0.0, "no late policy" if policy is None else "on time"
    final = score
    if late and policy is not None:
        if days is not None and policy.percent_per_day:
            percent, rule = days * policy.percent_per_day, f"{policy.percent_per_day:g}% per day"
        else:
            percent, rule = policy.percent, f"{policy.percent:g}% for a late submission"
        percent = min(percent, policy.max_percent)
        final = score * (1 - percent / 100)
        if policy.cap_percent is not None and final > max_score * policy.cap_percent / 100:
            final = max_score * policy.cap_percent / 100
            rule += f", capped at {policy.cap_percent:g}% of the maximum"
    elif late:
        rule = "late; no late policy in exercise.json: nothing deducted"
    final = round(max(0.0, final), 4)
    return {"late": late, "submitted_at": origin.get("submitted_at"), "days_late": days,
            "percent": percent, "points": round(score - final, 4), "final_score": final,
            "rule": rule}
