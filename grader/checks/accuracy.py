"""The accuracy kind: the grader's own training of the student's architecture reaches the range.

The verifier (``grader.verify.verifier``) trains and makes the check (its message, hint and
range); this kind gives it the points the exercise declares, and gives nothing when the
training did not run (``--no-verify``, or a spec without a calibrated range).
"""
from __future__ import annotations

from dataclasses import replace

from grader.checks.kind import TRAINING, CheckContext, CheckKind
from grader.checks.registry import register
from grader.result import Check


@register
class Accuracy(CheckKind):
    """Validation accuracy of the verification training within the calibrated range."""

    kind = "accuracy"
    phrase = "the verification training"
    stage = TRAINING
    #: the verifier's check carries this category (``grader.verify.verifier``)
    category, title, section = "training", "Training", TRAINING

    def max_points(self, spec, verified: bool) -> float:
        return float(self.points) if spec.training and verified else 0.0

    def run(self, context: CheckContext) -> list[Check]:
        check = context.verification
        if check is None:
            return []
        full = float(self.points)
        return [replace(check, max_points=full, points=full if check.passed else 0.0)]
