"""The check interface: what an exercise declares in ``exercise.json``'s ``"checks"``.

A check kind is a class with a ``kind`` (its name in ``exercise.json``), the ``points`` the
exercise gives it, ``max_points(spec, verified)`` and ``run(context) -> list[Check]``. The
exercise lists the kinds it uses, in the order the report shows them, so that the maximum
score is the sum of what the declared checks can give (never a formula of its own), and a new
kind of check is one new module: a class registered with ``grader.checks.registry.register``
(its module named in the registry's ``BUILTIN``, or imported before grading). A kind runs on the
grading ``CheckContext``: the spec, the student's layers aligned with the reference's, and the
verification training when it ran. It returns plain ``Check``s whose structured fields
(``category``, ``group``, ``aspect``) are what renderers read; names are for people only.
The kind also says how its checks are shown (``category``, ``title``, ``section``,
``csv_column``): the HTML report, ``grades.csv`` and Gradescope's visibility categories loop
over the registered kinds, never over a list of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from grader.result import Check

if TYPE_CHECKING:
    from grader.compare.rows import Alignment
    from grader.exercise.spec import Spec

#: when a kind runs: on the layers (``structure``, also in the student's self-check), after
#: the grader trained the architecture (``training``), or on the written answers read from
#: the submitted notebook's JSON (``answers``: ``grader.answers``)
STRUCTURE, TRAINING, ANSWERS = "structure", "training", "answers"


@dataclass
class CheckContext:
    """What a check reads: the exercise's spec, the student's layers aligned with the
    reference's (``comparison``), and the verification training if it ran (``training``, with
    the verifier's own accuracy ``Check`` in ``verification``), and the checks earlier stages
    made (``earlier``: what the exercise's ``requires`` rule reads, ``grader.checks.rule``)."""

    spec: Spec
    comparison: Alignment | None = None
    training: dict | None = None
    verification: Check | None = None
    earlier: list[Check] = field(default_factory=list)
    #: the written answers (``grader.answers.extract.Answer``), in the exercise's order
    answers: list | None = None
    #: the training log the student's own last run left in the submitted notebook's outputs
    saved_run: dict | None = None

    @property
    def compared(self) -> Alignment:
        """The comparison, which a ``STRUCTURE`` kind always runs with."""
        if self.comparison is None:
            raise ValueError("a structure check runs on a comparison of the layers")
        return self.comparison


#: where the HTML report lists a kind's checks: a card per added layer (``ADDED``), under the
#: layer table (``ARCHITECTURE``), beside the training plot (``TRAINING``), or in a section of
#: their own titled with the kind's ``title`` (``OWN``); every check is also in the report's
#: table of all checks
ADDED, ARCHITECTURE, OWN = "added", "architecture", "own"


class CheckKind:
    """One kind of check, with the points the exercise gives it (a number, or per aspect), and
    how the outputs show its checks (see the module docstring)."""

    kind: ClassVar[str] = ""
    stage: ClassVar[str] = STRUCTURE
    #: the ``Check.category`` of its checks: the JSON's, JUnit's failure type, Gradescope's tag
    #: and visibility category
    category: ClassVar[str] = ""
    #: what people read for the category (the report's section heading of an ``OWN`` kind)
    title: ClassVar[str] = ""
    #: where the HTML report lists its checks (``ADDED``, ``ARCHITECTURE``, ``TRAINING``, ``OWN``)
    section: ClassVar[str] = OWN
    #: a ``grades.csv`` column with the points of its checks (None: no column of its own)
    csv_column: ClassVar[str | None] = None
    #: the kind in words inside a sentence, for the reason a requiring check's points are
    #: withheld ("the layers you added earned no points")
    phrase: ClassVar[str] = ""

    def __init__(self, points: Any, requires: tuple[str, ...] = ()) -> None:
        self.points = points
        #: the kinds that must have earned points for this one to be paid (``"requires"``)
        self.requires = requires

    def max_points(self, spec: Spec, verified: bool) -> float:
        """The most this check can give; ``verified=False``: without the verification training."""
        return float(self.points)

    def run(self, context: CheckContext) -> list[Check]:
        raise NotImplementedError


def declaration(kind: str, points: Any, requires: list[str] | None = None) -> dict:
    """One entry of ``exercise.json``'s ``"checks"``."""
    entry: dict = {"kind": kind, "points": points}
    if requires:
        entry["requires"] = requires
    return entry
