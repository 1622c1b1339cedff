"""The check kind ``architecture``: every layer the student was not asked to add is unchanged.

One check for the whole network. A layer that differs only as a consequence of an earlier
mistake (its input changed) costs nothing and names that mistake (``follows_from``); a layer
of the student's own that differs, or an extra one in the block, withdraws the points.
"""
from __future__ import annotations

from grader.checks import hints
from grader.checks.kind import ARCHITECTURE, STRUCTURE, CheckContext, CheckKind
from grader.checks.registry import register
from grader.compare.align import Cause, Row, own_mistake
from grader.result import Check


@register
class Architecture(CheckKind):
    """Every layer the student was not asked to add is unchanged (consequences excepted)."""

    kind = "architecture"
    phrase = "the architecture check"
    stage = STRUCTURE
    category, title, section = "architecture", "Architecture", ARCHITECTURE

    def run(self, context: CheckContext) -> list[Check]:
        c = context.compared
        return [_architecture_check(c.rows, c.causes, self.points, c.accepted)]


def _architecture_check(rows: list[Row], causes: list[Cause | None], points: float,
                        accepted: list[str]) -> Check:
    problems, consequences, follows, extras, keys = [], [], None, [], []
    for k, row in enumerate(rows):
        if row.to_add or row.status == "match":
            continue
        if row.in_block and row.status == "extra" and hints.explained_by_order(row, rows):
            continue
        if row.in_block and row.status == "extra":
            extras.append(hints.extra_in_block(row, rows))
            problems.append(extras[-1])
            keys.append(hints.difference_key(row))
        elif own_mistake(row):
            found = hints.difference(row)
            problems.append(found.hint)
            keys.append(found.key)
        else:
            consequences.append(hints.row_difference(row))
            follows = follows or causes[k]
    passed = not problems and not consequences
    if passed:
        message = "every other layer matches the reference (type, arguments, output shape, " \
                  "parameters)"
        if accepted:
            message += "; accepted as the same: " + "; ".join(accepted)
    else:
        message = "; ".join(problems) if problems else \
            "the layers you were not asked to change are unchanged"
        if consequences:
            message += f". As a consequence of the layers above, {len(consequences)} later " \
                       f"layer(s) differ: " + "; ".join(consequences[:3])
            if not problems and follows:
                message += f" (follows from {follows[0]})"
    kept = not problems
    return Check(name="Whole architecture matches the reference", passed=passed, message=message,
                 category=Architecture.category, points=float(points) if kept else 0.0,
                 max_points=float(points),
                 follows_from=None if passed or problems or not follows else follows[0],
                 mistake=None if passed else keys[0] if keys else follows[2] if follows else None,
                 hint=None if passed else (extras[0] if extras and problems[0] == extras[0] else
                                           hints.architecture_hint(problems) if problems else
                                           follows[1] if follows else None))
