"""Every error the grader raises on purpose. Each carries a ``kind`` (``grader.errors.ErrorKind``)
that ends up in results; the advice and whose fault a kind is live with the kinds."""
from __future__ import annotations

from typing import Any

from grader.errors import ErrorKind
from grader.exitcodes import ExitCode


class GraderError(Exception):
    """Base class: ``kind`` names the failure in results, ``exit_code`` maps it for the CLI.

    ``kind`` given to the constructor overrides the class's (a limit says which one was hit; a
    submission refused at intake says how its folder was wrong)."""

    kind: ErrorKind = ErrorKind.INTERNAL
    exit_code = ExitCode.GRADER_ERROR

    def __init__(self, message: str, kind: ErrorKind | str | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details
        if kind is not None:
            self.kind = ErrorKind(kind)


class UsageError(GraderError):
    kind = ErrorKind.USAGE
    exit_code = ExitCode.USAGE


class SpecError(UsageError):
    kind = ErrorKind.SPEC


class DataUnavailable(GraderError):
    kind = ErrorKind.NO_DATA
    exit_code = ExitCode.GRADER_ERROR


class NotGradable(GraderError):
    """The submission itself prevents grading; ``kind`` says how."""

    kind = ErrorKind.NOT_GRADABLE
    exit_code = ExitCode.NOT_GRADABLE


class InvalidNotebook(NotGradable):
    kind = ErrorKind.INVALID_NOTEBOOK


class CellError(NotGradable):
    kind = ErrorKind.CELL_ERROR


class KernelDied(NotGradable):
    kind = ErrorKind.KERNEL_DIED


class NoModel(NotGradable):
    kind = ErrorKind.NO_MODEL


class DisallowedLayer(NotGradable):
    kind = ErrorKind.DISALLOWED_LAYER


class InvalidModel(NotGradable):
    kind = ErrorKind.INVALID_MODEL


class ModelTooLarge(NotGradable):
    kind = ErrorKind.MODEL_TOO_LARGE


class LimitExceeded(GraderError):
    """A time or resource limit; ``kind`` is ``timeout``, ``output_limit``, ``memory_limit``, …"""

    kind = ErrorKind.TIMEOUT
    exit_code = ExitCode.LIMIT

    def __init__(self, message: str, kind: ErrorKind | str = ErrorKind.TIMEOUT,
                 **details: object) -> None:
        super().__init__(message, kind, **details)


class KernelStartFailed(LimitExceeded):
    """The notebook's kernel did not answer while starting (twice): a limit of the machine,
    not the submission's fault and not a grader bug."""

    kind = ErrorKind.KERNEL_START

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, ErrorKind.KERNEL_START, **details)


class SandboxUnavailable(GraderError):
    kind = ErrorKind.SANDBOX_UNAVAILABLE
    exit_code = ExitCode.GRADER_ERROR


class NotARegularFile(NotGradable):
    """A submission that is a link, FIFO, device, socket or folder: never opened or read."""

    kind = ErrorKind.NOT_A_REGULAR_FILE


class SubmissionMissing(NotGradable):
    """The submission disappeared between finding it and reading it."""

    kind = ErrorKind.SUBMISSION_MISSING


class Unreadable(NotGradable):
    """The submission exists but cannot be read (permissions, I/O error)."""

    kind = ErrorKind.UNREADABLE


class OutputError(GraderError):
    """The results cannot be written (read-only, full disk, I/O error): the batch stops."""

    kind = ErrorKind.OUTPUT_ERROR
    exit_code = ExitCode.GRADER_ERROR


class SubclassedModel(NotGradable):
    """The model is an instance of a class written in the notebook (or any class other than
    Keras's own Sequential and functional Model): its ``call()`` decides what it computes."""

    kind = ErrorKind.SUBCLASSED_MODEL


class NotAChain(NotGradable):
    """A real Keras graph, but not one straight chain of layers (a branch, a merge, a layer
    used twice, several inputs or outputs): it cannot be aligned with a chain reference."""

    kind = ErrorKind.NOT_A_CHAIN
