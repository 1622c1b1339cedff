"""Does an exercise's points follow the student's work? Its untouched template must score 0 and
its solution full marks (like nbgrader's ``validate``, which checks that the released notebook
fails its tests).

Both are graded from the spec alone, without a kernel: the solution is the spec's layers, the
template the same without the layers to add (``missing``: the layers the template lacks, as
``grader spec`` found them), and the verification training is assumed to pass for both (the
template's own network trains well; only the exercise's rule may keep it from being paid).
``grader spec`` refuses to write a spec that fails this, so an exercise author is told when a
check would pay for the template; the tests run it on every shipped exercise, and grade the
real template and solution notebooks too.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader import layers as L
from grader.checks import registry
from grader.checks.kind import TRAINING, CheckContext
from grader.exceptions import SpecError
from grader.exercise.spec import Spec
from grader.result import Check


@dataclass
class Validation:
    """The template's and the solution's checks under the exercise's points."""

    max_score: float
    template: list[Check]
    solution: list[Check]

    @property
    def template_score(self) -> float:
        return float(sum(c.points for c in self.template))

    @property
    def solution_score(self) -> float:
        return float(sum(c.points for c in self.solution))

    def problems(self) -> list[str]:
        """What is wrong with the exercise's points, in words for its author (none: fair)."""
        out = []
        paid = [f"{c.name} ({c.points:g})" for c in self.template if c.points]
        if paid:
            out.append(f"the untouched template would score {self.template_score:g}/"
                       f"{self.max_score:g}: {', '.join(paid)} pay for what the template already "
                       "holds; declare \"requires\": [\"added_layers\"] on such checks "
                       "(docs/points.md)")
        if self.solution_score != self.max_score:
            lost = [c.name for c in self.solution if c.points < c.max_points]
            out.append(f"the solution would score {self.solution_score:g}/{self.max_score:g} "
                       f"(not paid: {', '.join(lost) or 'none'})")
        return out


def template_layers(spec: Spec) -> list[L.Layer]:
    """The template's layers: the solution's without the ones students add."""
    return [layer for k, layer in enumerate(spec.ref_layers) if k not in spec.missing]


def graded(spec: Spec, layers: list[L.Layer]) -> list[Check]:
    """Every declared check on ``layers``, the verification training assumed to pass."""
    from grader.checks import (
        scoring as structure,  # it imports the registry, which this module extends
    )

    checks, _ = structure.check_layers(spec, L.infer(layers, tuple(spec.input_shape)))
    if spec.training and registry.declares(spec, TRAINING):
        passed = Check(name="Verification accuracy", passed=True, category="training",
                       message="assumed in the calibrated range")
        checks += registry.run(CheckContext(spec, training=spec.training, verification=passed,
                                       earlier=list(checks)), TRAINING)
    return checks


def validate(spec: Spec) -> Validation:
    """The template's and the solution's checks under the spec's points: the code's checks
    (the written answers' facts are the student's own words, which neither notebook of the
    folder is graded on here; an empty answer earns no fact)."""
    return Validation(registry.max_score(spec, verified=bool(spec.training), answers=False),
                      graded(spec, template_layers(spec)), graded(spec, spec.ref_layers))


def require_fair(spec: Spec) -> None:
    """Refuse an exercise whose points reward its template or fail its solution."""
    problems = validate(spec).problems()
    if problems:
        raise SpecError(f"exercise {spec.exercise!r}: " + "; ".join(problems))
