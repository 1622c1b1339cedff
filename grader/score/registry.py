"""The check kinds an exercise may declare, by name, and what the declared ones add up to.

``exercise.json`` lists ``{"kind": ..., "points": ...}`` entries (``grader.spec`` copies them
into the spec); this module turns them into ``CheckKind`` objects, runs them in the declared
order and sums their maximum points. A new kind: a class (``grader.score.checks.CheckKind``)
in its own module, and one line in ``KINDS`` below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grader.compare.layer_checks import AddedLayers, Architecture, Totals
from grader.exceptions import SpecError
from grader.result import Check
from grader.score import rule
from grader.score.accuracy import Accuracy
from grader.score.checks import CheckKind, Context

if TYPE_CHECKING:
    from grader.spec import Spec

KINDS: dict[str, type[CheckKind]] = {k.kind: k for k in (AddedLayers, Architecture, Totals,
                                                         Accuracy)}


def declared(spec: Spec) -> list[CheckKind]:
    """The spec's checks as objects, in the declared order; an unknown kind, or a
    ``requires`` that names no earlier kind, is a spec error."""
    out: list[CheckKind] = []
    for entry in spec.checks:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in KINDS:
            raise SpecError(f"unknown check kind {kind!r} in the exercise's checks (known: "
                            f"{', '.join(KINDS)})")
        made = KINDS[kind](entry.get("points", 0))
        made.requires = rule.requirements(entry, made, out)
        out.append(made)
    return out


def max_score(spec: Spec, verified: bool = True) -> float:
    """The sum of the declared checks' maximum points."""
    return float(sum(check.max_points(spec, verified) for check in declared(spec)))


def run(context: Context, stage: str) -> list[Check]:
    """The checks of the declared kinds that run at ``stage``, in the declared order, with the
    exercise's rule applied: a check whose required kinds earned nothing (in this stage or in
    ``context.earlier``) is paid nothing (``grader.score.rule``)."""
    kinds = declared(context.spec)
    earned = rule.earned_before(kinds, context.earlier)
    out: list[Check] = []
    for kind in kinds:
        if kind.stage != stage:
            continue
        checks = rule.withhold(kind.run(context), kind, earned)
        earned[kind.kind] = earned.get(kind.kind, 0.0) + sum(c.points for c in checks)
        out += checks
    return out


def declares(spec: Spec, stage: str) -> bool:
    """Whether any declared check runs at ``stage`` (no accuracy check: no training needed)."""
    return any(kind.stage == stage for kind in declared(spec))
