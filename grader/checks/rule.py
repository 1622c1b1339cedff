"""The exercise's rule for points: what the template already holds earns nothing by itself.

A student hands in the template plus the layers they added. Checks on the whole network (the
architecture, the parameter totals, the verification training) find the template's own layers
right whether or not the student did anything, so an exercise declares, per check, which of
its checks must have earned points for this one to be paid::

    {"kind": "architecture", "points": 2, "requires": ["added_layers"]}

"Paid only when the layers the student added earned at least one point." The check still runs
and is shown as found (✓ or ✗, with its ``follows_from``); only its points are withheld, and
its ``withheld`` says why. A single mistake never closes the gate (the rest of the block still
earns), so a mistake is still charged once; the untouched template, whose block earns nothing,
earns nothing at all. Damage to the template costs as before: the architecture check charges
a changed pre-written layer whatever the gate says.

``requires`` names kinds declared *before* the check and of the same or an earlier stage (a
structure check cannot wait for the training), so the rule is evaluated in one pass in the
declared order; ``grader.checks.validate`` tests that an exercise's points do not reward its
template.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grader.exceptions import SpecError
from grader.result import Check

if TYPE_CHECKING:
    from grader.checks.kind import CheckKind

#: the key of a declared check that names the kinds it requires
REQUIRES = "requires"
#: the stages in the order a grading runs them (``grader.checks.kind``)
STAGE_ORDER = ("structure", "training")


def requirements(entry: dict, kind: CheckKind, before: Sequence[CheckKind]) -> tuple[str, ...]:
    """The kinds ``entry`` requires, checked against the kinds declared before it."""
    named: Any = entry.get(REQUIRES, [])
    if isinstance(named, str):
        named = [named]
    if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
        raise SpecError(f"check {kind.kind!r}: {REQUIRES!r} must be a list of check kinds")
    earlier = {k.kind: k for k in before}
    for name in named:
        if name not in earlier:
            raise SpecError(f"check {kind.kind!r} requires {name!r}, which is not declared "
                            f"before it (declared before: {', '.join(earlier) or 'none'})")
        if STAGE_ORDER.index(earlier[name].stage) > STAGE_ORDER.index(kind.stage):
            raise SpecError(f"check {kind.kind!r} runs on the layers and cannot require "
                            f"{name!r}, which needs the training")
    return tuple(named)


def earned_before(kinds: Iterable[CheckKind], checks: Iterable[Check]) -> dict[str, float]:
    """The points each kind earned in the checks of earlier stages (by the kind's category)."""
    checks = list(checks)
    return {k.kind: sum(c.points for c in checks if c.category == k.category) for k in kinds
            if any(c.category == k.category for c in checks)}


def withhold(checks: list[Check], kind: CheckKind, earned: dict[str, float],
             phrases: dict[str, str]) -> list[Check]:
    """``checks`` with their points withheld when a required kind earned nothing
    (``phrases``: each declared kind's words, ``CheckKind.phrase``)."""
    empty = [name for name in kind.requires if earned.get(name, 0.0) <= 0]
    if not empty:
        return checks
    reason = reason_for([phrases.get(name) or name for name in empty])
    return [replace(c, points=0.0, withheld=reason) for c in checks]


def reason_for(titles: Sequence[str]) -> str:
    """Why the points are withheld, in words (the check kinds' phrases, never cnn2's layers)."""
    return (f"{' and '.join(titles)} earned no points, and what the template "
            "already holds earns nothing by itself")
