"""Exit codes of the ``grader`` command, one meaning each, stable for pipelines."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented in the README; a pipeline branches on these, so never renumber."""

    PASSED = 0  #: graded, every check passed (``grade``: every submission got a result)
    FAILED = 1  #: graded, at least one check failed
    USAGE = 2  #: bad arguments, file not found, unreadable spec
    NOT_GRADABLE = 3  #: invalid notebook, a cell raised, no model, disallowed layer, kernel died
    LIMIT = 4  #: a time or resource limit was hit
    GRADER_ERROR = 5  #: the grader itself failed (no data, internal error)
