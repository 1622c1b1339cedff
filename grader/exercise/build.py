"""A reference spec from the solution's and the template's layers: the layers students add are
the solution's that the alignment finds missing from the template.

Here, not in ``grader.exercise.spec``: the spec is plain data at the bottom of the package, and building
one aligns layers and checks the declared kinds against the registry.
"""
from __future__ import annotations

from grader import layers as L
from grader.answers import questions
from grader.checks import registry
from grader.checks.validate import require_fair
from grader.compare.align import align
from grader.exceptions import SpecError
from grader.exercise.spec import Spec, checks_of


def build(exercise: dict, solution: list[L.LayerInfo], template: list[L.LayerInfo],
          input_shape: tuple, generated: dict, training: dict | None = None) -> Spec:
    """The spec from the solution's layers; the missing ones are those the template lacks.
    Refused when its points would reward the untouched template or fail the solution
    (``grader.checks.validate``), so that an exercise author is told before students are."""
    rows = align(solution, template)
    missing = [r for r, t in rows if r is not None and t is None]
    if not missing:
        raise SpecError("the template has every layer of the solution: nothing for students to add")
    spec = Spec(
        exercise=exercise["exercise"], title=exercise.get("title", exercise["exercise"]),
        data=exercise["data"], input_shape=list(input_shape),
        layers=[i.to_dict() for i in solution], missing=missing, totals=L.totals(solution),
        checks=checks_of(exercise), markers=exercise.get("markers", {}), training=training,
        generated=generated, questions=questions.validate(exercise.get("questions", [])))
    registry.declared(spec)  # declares only check kinds the grader knows
    require_fair(spec)  # the untouched template scores 0, the solution full marks
    return spec
