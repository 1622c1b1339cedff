"""Every error the grader raises on purpose. Each carries a ``kind`` that ends up in results."""
from __future__ import annotations

from grader.exitcodes import ExitCode


class GraderError(Exception):
    """Base class: ``kind`` names the failure in results, ``exit_code`` maps it for the CLI."""

    kind = "internal"
    exit_code = ExitCode.GRADER_ERROR

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UsageError(GraderError):
    kind = "usage"
    exit_code = ExitCode.USAGE


class SpecError(UsageError):
    kind = "spec"


class DataUnavailable(GraderError):
    kind = "no_data"
    exit_code = ExitCode.GRADER_ERROR


class NotGradable(GraderError):
    """The submission itself prevents grading; ``kind`` says how."""

    kind = "not_gradable"
    exit_code = ExitCode.NOT_GRADABLE


class InvalidNotebook(NotGradable):
    kind = "invalid_notebook"


class CellError(NotGradable):
    kind = "cell_error"


class KernelDied(NotGradable):
    kind = "kernel_died"


class NoModel(NotGradable):
    kind = "no_model"


class DisallowedLayer(NotGradable):
    kind = "disallowed_layer"


class InvalidModel(NotGradable):
    kind = "invalid_model"


class ModelTooLarge(NotGradable):
    kind = "model_too_large"


class LimitExceeded(GraderError):
    """A time or resource limit; ``kind`` is ``timeout``, ``output_limit`` or ``memory_limit``."""

    kind = "timeout"
    exit_code = ExitCode.LIMIT

    def __init__(self, message: str, kind: str = "timeout", **details: object) -> None:
        super().__init__(message, **details)
        self.kind = kind


class SandboxUnavailable(GraderError):
    kind = "sandbox_unavailable"
    exit_code = ExitCode.GRADER_ERROR


class NotARegularFile(NotGradable):
    """A submission that is a link, FIFO, device, socket or folder: never opened or read."""

    kind = "not_a_regular_file"


class SubmissionMissing(NotGradable):
    """The submission disappeared between finding it and reading it."""

    kind = "submission_missing"


class Unreadable(NotGradable):
    """The submission exists but cannot be read (permissions, I/O error)."""

    kind = "unreadable"


class OutputError(GraderError):
    """The results cannot be written (read-only, full disk, I/O error): the batch stops."""

    kind = "output_error"
    exit_code = ExitCode.GRADER_ERROR


class SubclassedModel(NotGradable):
    """The model is an instance of a class written in the notebook (or any class other than
    Keras's own Sequential and functional Model): its ``call()`` decides what it computes."""

    kind = "subclassed_model"


class NotAChain(NotGradable):
    """A real Keras graph, but not one straight chain of layers (a branch, a merge, a layer
    used twice, several inputs or outputs): it cannot be aligned with a chain reference."""

    kind = "not_a_chain"
