"""What a cohort got wrong, computed from the per-student results alone (plain data).

One grader run answers "what did this student get wrong"; an instructor also wants "what did
the class get wrong", to know what to re-teach. The answer is a ``Cohort``: the pass rate of
every check, the mistakes grouped by their stable key (``grader.checks.hints``, never by hint
text, whose numbers differ per student), identical wrong architectures clustered by a hash of
the layer list, the causes of notebooks that could not be graded, and the scores and times.
It goes into ``course.json`` and the index page; renderers only present it.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from grader import errors
from grader.advice import GENERIC
from grader.checks import mistakes
from grader.checks.hints import NON_SEMANTIC
from grader.result import Result, Status, of_the_code

COURSE_FILE = "course.json"
LIMITS = frozenset(kind.value for kind in errors.LIMITS)
GRADER = frozenset({"internal", "no_data", "sandbox_unavailable", "spec"})
#: the exception name in a cell error's message ("cell 8 raised NameError: …")
RAISED = re.compile(r"raised ([A-Za-z_][\w.]{0,80}):")


@dataclass
class CheckRate:
    name: str
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass
class Group:
    """Students sharing one thing: a mistake, an architecture or a cause of not being graded."""

    key: str
    words: str
    students: list[str] = field(default_factory=list)
    #: not-graded causes: ``limit``, ``recognised`` (advice.py named the cause: the grading
    #: environment, Keras versions, cell order), ``notebook`` or ``grader``
    category: str | None = None
    #: architecture clusters: the mistakes of that architecture, in words
    mistakes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class Cohort:
    submissions: int
    counts: dict[str, int]
    checks: list[CheckRate]
    mistakes: list[Group]
    clusters: list[Group]
    not_graded: list[Group]
    scores: list[float]
    max_score: float
    seconds: list[float]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["checks"] = [{**asdict(c), "rate": round(c.rate, 4)} for c in self.checks]
        for name in ("mistakes", "clusters", "not_graded"):
            data[name] = [{**asdict(g), "count": g.count} for g in getattr(self, name)]
        return data


def graded(result: Result) -> bool:
    return result.status in (Status.PASSED, Status.FAILED)


def student_mistakes(result: Result) -> list[str]:
    """The keys of a graded result's mistakes, in check order, each once. A failed check with
    no key (e.g. the accuracy, or a result saved by an older grader) counts by its category."""
    keys = [c.mistake or f"check:{c.category}" for c in result.checks
            if not c.passed and of_the_code(c)]
    return list(dict.fromkeys(keys))


def mistake_words(result: Result) -> str:
    """The student's mistakes in words, for the index table."""
    return "; ".join(words(k) for k in student_mistakes(result))


def words(key: str) -> str:
    head, _, rest = key.partition(":")
    return f"failed the {rest} check" if head == "check" else mistakes.words(key)


def fingerprint(result: Result) -> str:
    """A hash of the layer list as the grader computed it; layer names, the class as written
    (``ReLU()`` is ``Activation('relu')``) and the arguments that do not count never matter."""
    layers = [{k: ({a: x for a, x in v.items() if a not in NON_SEMANTIC} if k == "args" and
                   isinstance(v, dict) else v)
               for k, v in layer.items() if k not in ("name", "description", "class_name")}
              for layer in result.layers]
    text = json.dumps(layers, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


K = TypeVar("K", bound=Hashable)


def _grouped(pairs: list[tuple[K, str]]) -> dict[K, list[str]]:
    """Students per key, by name (as the index lists them)."""
    out: dict[K, list[str]] = {}
    for key, student in pairs:
        out.setdefault(key, []).append(student)
    return {key: sorted(names, key=str.lower) for key, names in out.items()}


def _largest_first(groups: list[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (-g.count, g.key))


def check_rates(results: list[Result]) -> list[CheckRate]:
    """Every check's pass rate over the graded results, in the order the checks are made."""
    rates: dict[str, CheckRate] = {}
    for result in filter(graded, results):
        for check in result.checks:
            rate = rates.setdefault(check.name, CheckRate(check.name, 0, 0))
            rate.total += 1
            rate.passed += check.passed
    return list(rates.values())


def mistake_groups(results: list[Result]) -> list[Group]:
    pairs = [(k, r.submission) for r in results if graded(r) for k in student_mistakes(r)]
    return _largest_first([Group(k, words(k), s) for k, s in _grouped(pairs).items()])


def clusters(results: list[Result]) -> list[Group]:
    """Failed results with the same layers: one wrong architecture shared by several students."""
    failed = [r for r in results if r.status is Status.FAILED and r.layers]
    members = _grouped([(fingerprint(r), r.submission) for r in failed])
    first = {fingerprint(r): r for r in reversed(failed)}
    return _largest_first([Group(k, mistake_words(first[k]) or "same layers", s,
                                 mistakes=[words(m) for m in student_mistakes(first[k])])
                           for k, s in members.items()])


def cause(result: Result) -> tuple[str, str]:
    """(category, cause) of a result that was not graded."""
    error = result.error
    kind = error.kind if error else result.status.value
    if kind in LIMITS or result.status is Status.TIMEOUT:
        return "limit", kind
    if kind in GRADER:
        return "grader", kind
    name = RAISED.search(error.message or "") if error and kind == "cell_error" else None
    detail = f"{kind}: {name.group(1)}" if name else kind
    # advice other than the kind's generic one: advice.py recognised the cause (the grading
    # environment, a Keras 1/2 call, cells run out of order, layers after Flatten)
    special = error is not None and error.advice and error.advice != GENERIC.get(kind)
    return ("recognised" if special else "notebook"), detail


def not_graded(results: list[Result]) -> list[Group]:
    pairs = [(cause(r), r.submission) for r in results if not graded(r)]
    return _largest_first([Group(f"{c}:{d}", d, s, category=c)
                           for (c, d), s in _grouped(pairs).items()])


def cohort(results: list[Result]) -> Cohort:
    """Everything the index's analytics section and ``course.json`` show."""
    seconds = [r.timings.get("total") for r in results]
    return Cohort(
        submissions=len(results),
        counts={s.value: sum(r.status is s for r in results) for s in Status},
        checks=check_rates(results), mistakes=mistake_groups(results), clusters=clusters(results),
        not_graded=not_graded(results),
        scores=[r.score for r in results if graded(r)],
        max_score=max((r.max_score for r in results), default=0.0),
        seconds=[float(s) for s in seconds if isinstance(s, (int, float)) and s >= 0])
