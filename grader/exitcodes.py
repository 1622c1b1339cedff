"""Exit codes of the ``grader`` command, one meaning each, stable for pipelines."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented in the README; a pipeline branches on these, so never renumber."""

    PASSED = 0
    FAILED = 1
    USAGE = 2
    NOT_GRADABLE = 3
    LIMIT = 4
    GRADER_ERROR = 5

    @property
    def meaning(self) -> str:
        """What a pipeline may conclude from this code: the README's exit-code table says
        exactly this (``tests/test_readme.py`` holds them together)."""
        return MEANINGS[self]


MEANINGS: dict[ExitCode, str] = {
    ExitCode.PASSED: "graded, every check passed (`grade`: every submission got a result)",
    ExitCode.FAILED: "graded, at least one check failed",
    ExitCode.USAGE: "bad arguments, notebook or folder not found, unreadable spec, `--out` not "
                    "writable, `--out` in use by another `grade`",
    ExitCode.NOT_GRADABLE: "not a valid notebook, a cell raised, no model, a subclassed model, a "
                           "graph that is not a chain, a disallowed layer, the kernel died",
    ExitCode.LIMIT: "a time or resource limit was hit (timeout, output flood, memory)",
    ExitCode.GRADER_ERROR: "the grader itself failed (no data, no sandbox where required, "
                           "internal error, results cannot be written: full disk, read-only, "
                           "I/O error)",
}
