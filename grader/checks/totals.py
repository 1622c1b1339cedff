"""The check kind ``totals``: the student's parameter totals equal the reference's.

The totals are sums of the layers' counts, so they differ only where a layer does: a
difference that follows from a layer's own mistake keeps the points and names that layer.
"""
from __future__ import annotations

from grader import layers as L
from grader.checks import hints
from grader.checks.kind import ARCHITECTURE, STRUCTURE, CheckContext, CheckKind
from grader.checks.registry import register
from grader.compare.align import Row, first_own_mistake, where
from grader.result import Check


@register
class Totals(CheckKind):
    """The parameter totals equal the reference's (they differ only where a layer does)."""

    kind = "totals"
    phrase = "the parameter totals"
    stage = STRUCTURE
    category, title, section = "totals", "Parameter totals", ARCHITECTURE

    def run(self, context: CheckContext) -> list[Check]:
        c = context.compared
        return [_totals_check(context.spec.totals, L.totals(c.student), c.rows, self.points,
                              context.spec.marker)]


def _totals_check(expected: dict, actual: dict, rows: list[Row], points: float,
                  marker: str | None) -> Check:
    passed = expected == actual
    # the totals are sums of the layers' counts: they differ only where a layer does
    first = None if passed else first_own_mistake(rows)
    cause = None if first is None else rows[first]
    follows = None if first is None else where(first, rows[first])
    message = (f"{actual['total']:,} parameters ({actual['trainable']:,} trainable, "
               f"{actual['non_trainable']:,} non-trainable)")
    if not passed:
        message += f"; the reference has {expected['total']:,} ({expected['trainable']:,} " \
                   f"trainable, {expected['non_trainable']:,} non-trainable)"
        if follows:
            message += f" (follows from {follows})"
    block = [r for r in rows if r.in_block]
    return Check(name="Parameter totals", passed=passed, message=message, category=Totals.category,
                 points=float(points) if passed or follows else 0.0, max_points=float(points),
                 hint=None if passed else hints.totals_hint(cause), expected=expected,
                 actual=actual, follows_from=follows,
                 mistake=None if cause is None else
                 hints.mistake_of(cause, block, rows, marker).key)
