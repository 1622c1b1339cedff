"""The check kinds an exercise may declare, by name, and what the declared ones add up to.

``exercise.json`` lists ``{"kind": ..., "points": ...}`` entries (``grader.spec`` copies them
into the spec); this module turns them into ``CheckKind`` objects, runs them in the declared
order and sums their maximum points. A new kind: a class (``grader.score.checks.CheckKind``)
in its own module, and one line in ``KINDS`` below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grader.answers.facts import Facts
from grader.compare.layer_checks import AddedLayers, Architecture, Totals
from grader.exceptions import SpecError
from grader.result import Check
from grader.score.accuracy import Accuracy
from grader.score.checks import ANSWERS, CheckKind, Context

if TYPE_CHECKING:
    from grader.spec import Spec

KINDS: dict[str, type[CheckKind]] = {k.kind: k for k in (AddedLayers, Architecture, Totals,
                                                         Accuracy, Facts)}


def declared(spec: Spec) -> list[CheckKind]:
    """The spec's checks as objects, in the declared order; an unknown kind is a spec error."""
    out = []
    for entry in spec.checks:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in KINDS:
            raise SpecError(f"unknown check kind {kind!r} in the exercise's checks (known: "
                            f"{', '.join(KINDS)})")
        out.append(KINDS[kind](entry.get("points", 0)))
    return out


def max_score(spec: Spec, verified: bool = True, answers: bool = True) -> float:
    """The sum of the declared checks' maximum points; ``answers=False``: without the checks
    of the written answers (the in-notebook self-check reads no answers)."""
    return float(sum(check.max_points(spec, verified) for check in declared(spec)
                     if answers or check.stage != ANSWERS))


def run(context: Context, stage: str) -> list[Check]:
    """The checks of the declared kinds that run at ``stage``, in the declared order."""
    return [check for kind in declared(context.spec) if kind.stage == stage
            for check in kind.run(context)]


def declares(spec: Spec, stage: str) -> bool:
    """Whether any declared check runs at ``stage`` (no accuracy check: no training needed)."""
    return any(kind.stage == stage for kind in declared(spec))
