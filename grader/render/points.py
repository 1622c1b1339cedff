"""A check's points in words, the same in every output: ``points/max`` and, where the points are
not what the ✓/✗ suggests, why.

Two cases need words (``docs/points.md``): a ✗ that keeps its points because it only follows
from an earlier mistake ("follows from layer 11: points kept"), and a check whose points the
exercise's rule withholds because the student's own work earned nothing ("no points kept" for
what the template already holds). Read from the check's fields, never from its message.
"""
from __future__ import annotations

from grader.result import Check


def fraction(check: Check) -> str:
    """``points/max``, e.g. ``2/2`` or ``0.5/1``."""
    return f"{check.points:g}/{check.max_points:g}"


def _where(follows_from: str) -> str:
    """``layer 11`` of ``layer 11 (the missing Conv2D(...))``: the row, short enough for a line."""
    return follows_from.partition(" (")[0]


def note(check: Check) -> str | None:
    """Why this check's points differ from what its mark says, or None when they do not."""
    if check.withheld:
        if not check.passed and check.follows_from:
            return f"follows from {_where(check.follows_from)}, but no points kept: " \
                   f"{check.withheld}"
        return f"not paid: {check.withheld}"
    if not check.passed and check.follows_from and check.max_points \
            and check.points >= check.max_points:
        return f"follows from {_where(check.follows_from)}: points kept"
    return None


def line(check: Check) -> str:
    """``points/max`` and the note, for one line of plain text."""
    said = note(check)
    return f"{fraction(check)}" + (f", {said}" if said else "")
