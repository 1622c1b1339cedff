"""The result of a submission the grader failed on (a worker died, setting up failed)."""
from __future__ import annotations

from grader import pipeline
from grader.result import ErrorInfo, Result, Status
from grader.spec import Spec

FAULT_ADVICE = ("This is a fault of the grader, not of the notebook; run the same command again "
                "to retry it, and report it if it persists.")


def fault_result(student: str, spec: Spec | None, message: str, *, kind: str = "internal",
                 detail: str | None = None) -> Result:
    """A result for a submission the grader failed on (exit code 5); a re-run retries it."""
    return Result(submission=student, status=Status.ERROR,
                  max_score=spec.max_score() if spec else 0.0,
                  error=ErrorInfo(kind=kind, message=message, traceback=detail, advice=FAULT_ADVICE),
                  summary="The grader failed on this notebook; this is not your fault.",
                  versions=pipeline.versions(),
                  spec={"exercise": spec.exercise, "sha256": spec.sha256, "path": spec.path}
                  if spec else {})
