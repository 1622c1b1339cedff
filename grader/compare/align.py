"""Stage 4: compare the student's layers with the reference spec.

Layers are aligned like sequences (Needleman-Wunsch), so one missing or extra layer shows up
once as a gap instead of as a cascade of mismatches in every later layer. The result is a
``Alignment``, which the check kinds the exercise declares (``grader.checks.registry``) read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grader import layers as L
from grader.checks import hints
from grader.compare import equivalence
from grader.compare.rows import NON_SEMANTIC, Alignment, Cause, Row, differences, same_args

if TYPE_CHECKING:
    from grader.exercise.spec import Spec

MATCH, SAME_ARGS, SAME_KIND, SUBSTITUTE, GAP = 3.0, 2.5, 2.0, -1.5, -1.0
__all__ = ["NON_SEMANTIC", "Cause", "Alignment", "Row", "align", "aligned_rows", "compare",
           "differences", "first_own_mistake", "own_mistake", "same_args", "where"]


def _score(a: L.LayerInfo, b: L.LayerInfo) -> float:
    """Identical layers score highest; the same layer fed another shape next (so that of two
    equal Conv2D(64) layers, the one with the reference's input is matched)."""
    if a.layer.kind != b.layer.kind:
        return SUBSTITUTE
    if not same_args(a.layer, b.layer):
        return SAME_KIND
    same_numbers = (a.output_shape, a.trainable, a.non_trainable) == \
        (b.output_shape, b.trainable, b.non_trainable)
    return MATCH if same_numbers else SAME_ARGS


def align(ref: list[L.LayerInfo], stu: list[L.LayerInfo]) -> list[tuple[int | None, int | None]]:
    """Global alignment: rows of (reference index or None, student index or None)."""
    n, m = len(ref), len(stu)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        best[i][0] = i * GAP
    for j in range(1, m + 1):
        best[0][j] = j * GAP
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best[i][j] = max(best[i - 1][j - 1] + _score(ref[i - 1], stu[j - 1]),
                             best[i - 1][j] + GAP, best[i][j - 1] + GAP)
    # Walking back from the end, a tie goes to a missing reference layer: of equal alignments,
    # the one that takes the *later* identical layers as the missing ones wins (the student
    # adds layers after the template's, not before).
    rows: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i or j:
        if i and best[i][j] == best[i - 1][j] + GAP:
            rows.append((i - 1, None))
            i -= 1
        elif i and j and best[i][j] == best[i - 1][j - 1] + _score(ref[i - 1], stu[j - 1]):
            rows.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        else:
            rows.append((None, j - 1))
            j -= 1
    return rows[::-1]


def aligned_rows(spec: Spec, ref: list[L.LayerInfo], stu: list[L.LayerInfo]) -> list[Row]:
    """Aligned rows; the block is the layers to add plus extra layers the student put there."""
    pairs = align(ref, stu)
    rows = [Row(ref[r] if r is not None else None, stu[s] if s is not None else None,
                to_add=r in spec.missing) for r, s in pairs]
    marked = [k for k, row in enumerate(rows) if row.to_add]
    lo, hi = marked[0], marked[-1]
    while lo > 0 and rows[lo - 1].ref is None:
        lo -= 1
    while hi < len(rows) - 1 and rows[hi + 1].ref is None:
        hi += 1
    for row in rows[lo:hi + 1]:
        row.in_block = True
    return rows


def compare(spec: Spec, stu: list[L.LayerInfo]) -> Alignment:
    """Put the student's chain in canonical form, align it with the reference and find, for
    every row, the earlier mistake it may follow from."""
    ref = equivalence.tidy(spec.infos())
    stu, accepted = equivalence.normalize(stu, ref)
    rows = aligned_rows(spec, ref, stu)
    return Alignment(rows, stu, accepted, _causes(rows, spec.marker))


def own_mistake(row: Row) -> bool:
    """The row differs by itself: missing, extra, another type or other arguments (not only
    other numbers because an earlier layer feeds it another shape)."""
    if row.ref is None or row.stu is None:
        return True
    return not same_args(row.reference.layer, row.student.layer)


def first_own_mistake(rows: list[Row]) -> int | None:
    """The index of the first row with a mistake of its own (the first problem of a chain)."""
    return next((k for k, row in enumerate(rows) if own_mistake(row)), None)


def _causes(rows: list[Row], marker: str | None) -> list[Cause | None]:
    """For each row, the first earlier row with a mistake of its own, and how to fix it."""
    first = first_own_mistake(rows)
    if first is None:
        return [None] * len(rows)
    found = hints.mistake_of(rows[first], [r for r in rows if r.in_block], rows, marker)
    cause = (where(first, rows[first]), found.hint, found.key)
    return [None] * (first + 1) + [cause] * (len(rows) - first - 1)


def where(k: int, row: Row) -> str:
    what = row.student.layer.describe() if row.stu else f"the missing {row.reference.layer.describe()}"
    return f"layer {k + 1} ({what})"
