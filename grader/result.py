"""The grading result as plain data: checks produce these, renderers only present them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from grader import advice as advising
from grader import errors
from grader.errors import ErrorKind
from grader.exceptions import GraderError, LimitExceeded
from grader.exitcodes import ExitCode


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass
class Check:
    """One check: ``expected``/``actual`` hold the compared values, ``hint`` the likely fix."""

    name: str
    passed: bool
    message: str
    points: float = 0.0
    max_points: float = 0.0
    category: str = "structure"
    hint: str | None = None
    expected: Any = None
    actual: Any = None
    #: added-layer checks: the layer's label (``Added layer 1 of 4: Conv2D(...)``) and the aspect
    #: (``type``, ``args``, ``output_shape``, ``params``); renderers group and title by these
    #: fields (and ``category``), never by parsing ``name``, which is for people only
    group: str | None = None
    aspect: str | None = None
    #: a check that fails only as a consequence of an earlier mistake keeps its points and names
    #: that mistake here ("layer 11 (Conv2D(64, 3x3))")
    follows_from: str | None = None
    #: a failed check's mistake as a stable key (``grader.checks.hints``: ``arg:Conv2D.padding="same"``,
    #: ``missing:MaxPooling2D``, …) so a cohort can be grouped by the mistake, not by hint text
    mistake: str | None = None
    #: why the check's points are not paid although it found what it found: the exercise's rule
    #: (``"requires"`` in ``exercise.json``; ``grader.checks.rule``) pays it only for the student's
    #: own work (None: paid as found)
    withheld: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ErrorInfo:
    """Why a submission could not be graded; ``traceback`` is for the instructor."""

    #: an ``ErrorKind`` (a plain string when read back from JSON: the two compare equal)
    kind: ErrorKind | str
    message: str
    cell_index: int | None = None
    cell_source: str | None = None
    traceback: str | None = None
    advice: str | None = None
    #: the traceback as the kernel gave it, TensorFlow's log lines included (for instructors);
    #: ``traceback`` is the same without them. None when the two are the same
    raw_traceback: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def spec_identity(spec: Any) -> dict:
    """What a result records of the spec it was graded against (nothing without one)."""
    if spec is None:
        return {}
    return {"exercise": spec.exercise, "sha256": spec.sha256, "path": spec.path}


@dataclass
class Result:
    submission: str
    status: Status
    score: float = 0.0
    max_score: float = 0.0
    checks: list[Check] = field(default_factory=list)
    error: ErrorInfo | None = None
    summary: str = ""
    #: the variable holding the graded model (or, when none could be graded, the one reported)
    model_variable: str | None = None
    #: every other Keras model found: {variable, model_class, error_kind, reason}, at most 20
    other_models: list[dict] = field(default_factory=list)
    #: the student's layers as the grader computed them (type, shape, params)
    layers: list[dict] = field(default_factory=list)
    #: reference layers aligned with the student's: rows of {ref, student, status}
    alignment: list[dict] = field(default_factory=list)
    totals: dict | None = None
    reference_totals: dict | None = None
    training: dict | None = None
    student_history: dict | None = None
    #: "notebook run" (the grader's execution) or "saved outputs" (the student's own run)
    student_history_source: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    sandbox: str | None = None
    notebook_sha256: str | None = None
    #: set when the notebook ran through the Keras 1/2 compatibility layer: ``detected`` (the
    #: markers found in its source) and ``mappings`` ("legacy → Keras 3", those it used)
    compat: dict | None = None
    #: environment lines made harmless (a download of the data, TensorBoard magics, …)
    neutralized: list[str] = field(default_factory=list)
    #: where an LMS export put it (``grader.intake.lms_layout``): layout, the LMS's id, name,
    #: email, submission id, original file name, late flag, time, superseded entries; None: plain
    origin: dict | None = None
    #: lateness and its deduction (``grader.lms.late.assess``); ``score`` stays what was earned
    late: dict | None = None
    #: flags for a person to look at, not a status (score and exit code stay): entries
    #: ``{"source": "scan" | "crosscheck" | …, "cell_index", "line", "code", "message"}``
    review: list[dict] = field(default_factory=list)
    #: the written answers, one per declared question (``grader.answers.extract.Answer``)
    answers: list[dict] = field(default_factory=list)
    #: the TA's points and the instructor's overrides merged in (``grader.answers.manual``):
    #: ``score``/``max_score`` then include them; None before any merge
    manual: dict | None = None
    #: the questions whose points a person has yet to give (their ids); empty when none
    manual_pending: list[str] = field(default_factory=list)
    #: the cross-check's outcome: {matched (None: could not run), reason, mismatches,
    #: max_abs_diff, compared, seconds}; None when no model was graded
    crosscheck: dict | None = None
    #: the student's network beside the exercise's measured reference models
    #: (``grader.baselines.compare``); None where the exercise has none measured
    baselines: dict | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.status is Status.PASSED:
            return ExitCode.PASSED
        if self.status is Status.FAILED:
            return ExitCode.FAILED
        if self.status is Status.TIMEOUT:
            return ExitCode.LIMIT
        if self.error and errors.is_grader_fault(self.error.kind):
            return ExitCode.GRADER_ERROR
        return ExitCode.NOT_GRADABLE

    @property
    def first_failed(self) -> Check | None:
        """The first problem of a graded result (``first_failed``)."""
        return first_failed(self.checks)

    @classmethod
    def not_graded(cls, exc: GraderError, *, base: Result | None = None, student: str = "",
                   spec: Any = None, max_score: float = 0.0,
                   facts: advising.Facts | None = None) -> Result:
        """A submission that cannot be graded: its error kind, cell, traceback and advice.

        ``base`` holds what the stages that did run found (the execution's warnings, the
        structure checks before a verification timeout); without it the result is a bare row
        (a submission refused at intake). ``facts`` (the grading machine) lets the advice
        explain errors that the grading environment causes; without them a kind's own advice.
        """
        result = replace(base) if base is not None else cls(
            submission=student, status=Status.ERROR, max_score=max_score, spec=spec_identity(spec))
        details = exc.details
        raw = details.get("traceback")
        shown = advising.clean_traceback(raw)
        source = details.get("cell_source")
        given = details.get("advice")
        result.status = Status.TIMEOUT if isinstance(exc, LimitExceeded) else Status.ERROR
        result.score = 0.0
        result.model_variable = result.model_variable or details.get("variable")
        result.other_models = details.get("other_models") or result.other_models
        result.error = ErrorInfo(
            kind=exc.kind, message=exc.message, cell_index=details.get("cell_index"),
            cell_source=source, traceback=shown, raw_traceback=raw if raw != shown else None,
            advice=given or (advising.advise(exc.kind, exc.message, raw, source, facts) if facts
                             else errors.default_advice(exc.kind)))
        if details.get("legacy"):
            result.compat = {"detected": list(details["legacy"]), "mappings": []}
        where = f" (cell {result.error.cell_index})" if result.error.cell_index else ""
        result.summary = f"Not graded{where}: {exc.message}"
        return result

    @classmethod
    def grader_fault(cls, student: str, message: str, *, kind: ErrorKind | str = ErrorKind.INTERNAL,
                     detail: str | None = None, advice: str = errors.RETRY, spec: Any = None,
                     max_score: float | None = None, versions: dict | None = None,
                     base: Result | None = None) -> Result:
        """A submission the grader failed on (exit code 5), never the student's fault.

        ``kind`` must be a grader fault (anything else becomes ``internal``: the exit code
        promises it); ``detail`` is the traceback or log tail for the instructor. ``base``: what
        the grading found before the fault (kept, as for ``not_graded``); else a bare row with
        ``max_score`` (the spec's full one: ``grader.checks.registry.max_score``); ``spec`` only
        names the exercise."""
        if not errors.is_grader_fault(kind):
            kind = ErrorKind.INTERNAL
        error = ErrorInfo(kind=errors.kind_of(kind), message=message, traceback=detail,
                          advice=advice)
        if base is not None:
            return replace(base, error=error, summary=errors.FAULT_SUMMARY)
        return cls(submission=student, status=Status.ERROR,
                   max_score=max_score or 0.0,
                   error=error, summary=errors.FAULT_SUMMARY, versions=versions or {},
                   spec=spec_identity(spec))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        data["exit_code"] = int(self.exit_code)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["status"] = Status(data["status"])
        data["checks"] = [Check(**c) for c in data.get("checks", [])]
        if data.get("error"):
            data["error"] = ErrorInfo(**data["error"])
        return cls(**data)


#: the category of the written answers' facts (``grader.checks.facts``)
ANSWERS_CATEGORY = "answers"


def of_the_code(check: Check) -> bool:
    """Whether a check judges the code: only those decide the status and are the cohort's
    mistakes; the written answers' facts give points, and a person grades the rest."""
    return check.category != ANSWERS_CATEGORY


def first_failed(checks: list[Check]) -> Check | None:
    """The first problem, the one place it is decided (the "Fix first" line, the CSV column,
    the batch table): the first mistake itself; a check that failed only as a consequence of an
    earlier mistake (``follows_from``) is named only when no other check failed. The facts of
    the written answers (category ``answers``) give points, never the status."""
    failed = [c for c in checks if not c.passed and of_the_code(c)]
    return next((c for c in failed if not c.follows_from), failed[0] if failed else None)


#: error kinds that are the grader's fault, not the submission's (exit code 5)
GRADER_FAULTS = errors.GRADER_FAULTS
