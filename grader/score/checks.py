"""The check interface: what an exercise declares in ``exercise.json``'s ``"checks"``.

A check kind is a class with a ``kind`` (its name in ``exercise.json``), the ``points`` the
exercise gives it, ``max_points(spec, verified)`` and ``run(context) -> list[Check]``. The
exercise lists the kinds it uses, in the order the report shows them, so that the maximum
score is the sum of what the declared checks can give (never a formula of its own), and a new
kind of check is one new class plus one line in ``grader.score.registry``. A kind runs on the
grading ``Context``: the spec, the student's layers aligned with the reference's, and the
verification training when it ran. It returns plain ``Check``s whose structured fields
(``category``, ``group``, ``aspect``) are what renderers read; names are for people only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from grader.result import Check

if TYPE_CHECKING:
    from grader.compare.align import Comparison
    from grader.spec import Spec

#: when a kind runs: on the layers (``structure``, also in the student's self-check), after
#: the grader trained the architecture (``training``), or on the written answers read from
#: the submitted notebook's JSON (``answers``: ``grader.answers``)
STRUCTURE, TRAINING, ANSWERS = "structure", "training", "answers"


@dataclass
class Context:
    """What a check reads: the exercise's spec, the student's layers aligned with the
    reference's (``comparison``), and the verification training if it ran (``training``, with
    the verifier's own accuracy ``Check`` in ``verification``)."""

    spec: Spec
    comparison: Comparison | None = None
    training: dict | None = None
    verification: Check | None = None
    #: the written answers (``grader.answers.extract.Answer``), in the exercise's order
    answers: list | None = None
    #: the training log the student's own last run left in the submitted notebook's outputs
    saved_run: dict | None = None


class CheckKind:
    """One kind of check, with the points the exercise gives it (a number, or per aspect)."""

    kind: ClassVar[str] = ""
    stage: ClassVar[str] = STRUCTURE

    def __init__(self, points: Any) -> None:
        self.points = points

    def max_points(self, spec: Spec, verified: bool) -> float:
        """The most this check can give; ``verified=False``: without the verification training."""
        return float(self.points)

    def run(self, context: Context) -> list[Check]:
        raise NotImplementedError


def declaration(kind: str, points: Any) -> dict:
    """One entry of ``exercise.json``'s ``"checks"``."""
    return {"kind": kind, "points": points}
