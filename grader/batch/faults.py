"""The result of a submission the grader failed on (a worker died, setting up failed)."""
from __future__ import annotations

from grader import errors, pipeline
from grader.checks import registry
from grader.exercise.spec import Spec
from grader.result import Result

FAULT_ADVICE = errors.RETRY


def fault_result(student: str, spec: Spec | None, message: str, *, kind: str = "internal",
                 detail: str | None = None) -> Result:
    """A result for a submission the grader failed on (exit code 5); a re-run retries it."""
    return Result.grader_fault(student, message, kind=kind, detail=detail, spec=spec,
                               max_score=registry.max_score(spec) if spec is not None else None,
                               versions=pipeline.versions())
