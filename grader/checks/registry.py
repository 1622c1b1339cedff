"""The check kinds an exercise may declare, by name, and what the declared ones add up to.

``exercise.json`` lists ``{"kind": ..., "points": ...}`` entries (``grader.exercise.spec`` copies them
into the spec); this module turns them into ``CheckKind`` objects, runs them in the declared
order and sums their maximum points. A new kind: a class (``grader.checks.kind.CheckKind``)
in its own module, decorated with :func:`register`; the module is named in :data:`BUILTIN`
(or imported by anything before grading). The built-ins are imported by name on first use, so
that a kind's module may import this one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grader.checks import rule
from grader.checks.kind import ANSWERS, CheckContext, CheckKind
from grader.exceptions import SpecError
from grader.result import Check
from grader.util import plugins

if TYPE_CHECKING:
    from grader.exercise.spec import Spec

#: the modules of the shipped kinds, imported (and so registered) on first use, in this order
BUILTIN = ("grader.checks.added_layers", "grader.checks.architecture", "grader.checks.totals",
           "grader.checks.accuracy", "grader.checks.facts")
#: every registered kind by its name in ``exercise.json``
KINDS: dict[str, type[CheckKind]] = {}


def register(kind: type[CheckKind]) -> type[CheckKind]:
    """Offer ``kind`` to exercises (a class decorator); its name must be its own."""
    if not kind.kind or not kind.category:
        raise ValueError(f"check kind {kind.__name__}: give it a kind and a category")
    other = KINDS.get(kind.kind)
    if other is not None and other.__qualname__ != kind.__qualname__:
        raise ValueError(f"check kind {kind.kind!r} is registered already ({other.__name__})")
    KINDS[kind.kind] = kind
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)


def kinds() -> dict[str, type[CheckKind]]:
    """Every registered kind, by name (the built-ins first, in ``BUILTIN``'s order)."""
    plugins.load(BUILTIN)
    return dict(KINDS)


def categories(section: str | None = None) -> list[str]:
    """The registered kinds' check categories (those listed in ``section`` of the report)."""
    found = [k.category for k in kinds().values() if section is None or k.section == section]
    return list(dict.fromkeys(found))


def by_category(category: str) -> type[CheckKind] | None:
    """The kind whose checks have ``category`` (None: a result from an unknown kind)."""
    return next((k for k in kinds().values() if k.category == category), None)


def declared(spec: Spec) -> list[CheckKind]:
    """The spec's checks as objects, in the declared order; an unknown kind, or a
    ``requires`` that names no earlier kind, is a spec error."""
    known = kinds()
    out: list[CheckKind] = []
    for entry in spec.checks:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in known:
            raise SpecError(f"unknown check kind {kind!r} in the exercise's checks (known: "
                            f"{', '.join(known)})")
        made = known[kind](entry.get("points", 0))
        made.requires = rule.requirements(entry, made, out)
        out.append(made)
    return out


def max_score(spec: Spec, verified: bool = True, answers: bool = True) -> float:
    """The sum of the declared checks' maximum points; ``answers=False``: without the checks
    of the written answers (the in-notebook self-check reads no answers)."""
    return float(sum(check.max_points(spec, verified) for check in declared(spec)
                     if answers or check.stage != ANSWERS))


def run(context: CheckContext, stage: str) -> list[Check]:
    """The checks of the declared kinds that run at ``stage``, in the declared order, with the
    exercise's rule applied: a check whose required kinds earned nothing (in this stage or in
    ``context.earlier``) is paid nothing (``grader.checks.rule``)."""
    kinds = declared(context.spec)
    earned = rule.earned_before(kinds, context.earlier)
    phrases = {k.kind: k.phrase for k in kinds}
    out: list[Check] = []
    for kind in kinds:
        if kind.stage != stage:
            continue
        checks = rule.withhold(kind.run(context), kind, earned, phrases)
        earned[kind.kind] = earned.get(kind.kind, 0.0) + sum(c.points for c in checks)
        out += checks
    return out


def declares(spec: Spec, stage: str) -> bool:
    """Whether any declared check runs at ``stage`` (no accuracy check: no training needed)."""
    return any(kind.stage == stage for kind in declared(spec))
