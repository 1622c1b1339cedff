"""Every way a submission can end up not graded, in one table: its kind, its advice, and whose
fault it is.

A result's ``error.kind`` is one of :class:`ErrorKind`; the value is the string the JSON result
has always held (``"cell_error"``), and a member is that string in every respect (equality,
hashing, ``str``, JSON), so code and saved results that compare with plain strings keep working.
Whether a kind is the grader's fault decides the exit code (5 instead of 4), so that lives here
too, next to the advice a student reads. Advice that depends on the error's text (the grading
environment, a Keras 1/2 call) is computed by ``grader.advice``; what is here is the advice for
a kind when nothing more specific is known, and the advice for the few situations that the code
detecting them names itself (a notebook too large to read, a link instead of a notebook).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ErrorKind(str, Enum):
    """Why a submission was not graded; the value is what results and ``course.json`` say."""

    # the grader's own faults (exit code 5)
    INTERNAL = "internal"
    NO_DATA = "no_data"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    SPEC = "spec"
    USAGE = "usage"
    OUTPUT_ERROR = "output_error"
    # the submission's file, refused at intake before any kernel saw it
    SUBMISSION_LAYOUT = "submission_layout"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    SUBMISSION_MISSING = "submission_missing"
    UNREADABLE = "unreadable"
    # the notebook's run and its model
    NOT_GRADABLE = "not_gradable"
    INVALID_NOTEBOOK = "invalid_notebook"
    CELL_ERROR = "cell_error"
    KERNEL_DIED = "kernel_died"
    NO_MODEL = "no_model"
    DISALLOWED_LAYER = "disallowed_layer"
    SUBCLASSED_MODEL = "subclassed_model"
    NOT_A_CHAIN = "not_a_chain"
    INVALID_MODEL = "invalid_model"
    MODEL_TOO_LARGE = "model_too_large"
    # limits (status ``timeout``, exit code 4)
    TIMEOUT = "timeout"
    OUTPUT_LIMIT = "output_limit"
    MEMORY_LIMIT = "memory_limit"
    PROCESS_LIMIT = "process_limit"
    DISK_LIMIT = "disk_limit"
    FILE_SIZE_LIMIT = "file_size_limit"
    CPU_LIMIT = "cpu_limit"
    #: the grading machine could not start the notebook's Python (busy); a re-run retries it
    KERNEL_START = "kernel_start"

    __hash__ = str.__hash__  # a member finds, and is found by, its plain string in sets and dicts

    def __str__(self) -> str:
        return self.value

    @property
    def info(self) -> KindInfo:
        return KINDS[self]

    @property
    def grader_fault(self) -> bool:
        return KINDS[self].fault


@dataclass(frozen=True)
class KindInfo:
    """What the grader knows about a kind of error."""

    #: what a student should do when nothing more specific is known (None: nothing to say)
    advice: str | None = None
    #: the grader's fault, not the submission's: exit code 5, and a re-run retries it
    fault: bool = False
    #: a time or resource limit (raised as ``LimitExceeded``: status ``timeout``, exit code 4)
    limit: bool = False
    #: refused at intake: its advice describes the file, never the notebook's run, so it is not
    #: a "generic" advice of a graded run (the cohort calls such advice "recognised")
    intake: bool = False
    #: a re-run of ``grade`` grades it again (the grader's faults, and a kernel start the busy
    #: machine could not make: nothing of the submission was judged)
    retry: bool = False

    def __post_init__(self) -> None:
        if self.fault:
            object.__setattr__(self, "retry", True)


#: advice of situations the code that detects them names (see the module docstring)
UNPARSABLE_NOTEBOOK = "Open it in Jupyter, save it again, and resubmit."
OTHER_LANGUAGE_NOTEBOOK = ("Open the course's Python notebook, choose a Python 3 kernel (Kernel → "
                           "Change kernel), and hand in that notebook.")
NOTEBOOK_TOO_LARGE = ("Clear the notebook's outputs (Edit → Clear All Outputs), save it, and "
                      "submit it again.")
LINK_INSTEAD_OF_NOTEBOOK = ("Submit the notebook file itself (.ipynb), not a link, folder or "
                            "special file.")
#: the grader's own training of the architecture hit a limit (the notebook itself ran fine)
VERIFY_MEMORY = ("The grader could not train your architecture within its memory limit: compare "
                 "the sizes of your layers (filters, units) with the exercise.")
VERIFY_TIMEOUT = ("The grader could not train your architecture within its time limit: compare "
                  "the sizes of your layers (filters, units, pooling) with the exercise.")
#: a grader fault seen while grading one notebook (a bug: the traceback is in the result)
INTERNAL_ERROR = ("This is a fault of the grader, not of the notebook: please report it with this "
                  "result.")
#: a grader fault outside the notebook's run (a worker died or hung, a set-up failed)
RETRY = ("This is a fault of the grader, not of the notebook; run the same command again to retry "
         "it, and report it if it persists.")
FAULT_SUMMARY = "The grader failed on this notebook; this is not your fault."

K = ErrorKind
KINDS: dict[ErrorKind, KindInfo] = {
    K.INTERNAL: KindInfo(fault=True),
    K.NO_DATA: KindInfo(fault=True),
    K.SANDBOX_UNAVAILABLE: KindInfo(fault=True),
    K.SPEC: KindInfo(fault=True),
    K.USAGE: KindInfo(),
    K.OUTPUT_ERROR: KindInfo(),
    K.SUBMISSION_LAYOUT: KindInfo("Submit exactly one notebook (.ipynb).", intake=True),
    K.NOT_A_REGULAR_FILE: KindInfo(LINK_INSTEAD_OF_NOTEBOOK, intake=True),
    K.SUBMISSION_MISSING: KindInfo("Submit the notebook again.", intake=True),
    K.UNREADABLE: KindInfo("Check the file's permissions and submit it again.", intake=True),
    K.NOT_GRADABLE: KindInfo(),
    K.INVALID_NOTEBOOK: KindInfo("Open the notebook in Jupyter, check that it saves without "
                                 "errors, and resubmit."),
    K.CELL_ERROR: KindInfo("Run the notebook top to bottom (Kernel → Restart & Run All) and fix "
                           "the first error; the grader runs every cell in order."),
    K.KERNEL_DIED: KindInfo("The notebook's Python process crashed or ran out of memory; restart "
                            "and run it top to bottom to find the cell that does it."),
    K.NO_MODEL: KindInfo("Keep the course's variable name `model` for your network."),
    K.DISALLOWED_LAYER: KindInfo("Use only standard Keras layers (no Lambda or custom classes)."),
    K.SUBCLASSED_MODEL: KindInfo("Build the network as the template does: `model = Sequential()`, "
                                 "then one `model.add(...)` per layer, in order (or with the "
                                 "functional API, `keras.Model(inputs, outputs)`, one layer after "
                                 "the other); do not define a class."),
    K.NOT_A_CHAIN: KindInfo("Build the network as one straight chain of layers, each taking the "
                            "previous layer's output: `model = Sequential()`, then "
                            "`model.add(...)` per layer."),
    K.INVALID_MODEL: KindInfo("Build the network as a plain chain of standard Keras layers."),
    K.MODEL_TOO_LARGE: KindInfo("Compare your layers with the exercise: the model is far larger "
                                "than it should be."),
    K.TIMEOUT: KindInfo("Make sure no cell waits for input or loops forever; the grader shortens "
                        "training itself.", limit=True),
    K.OUTPUT_LIMIT: KindInfo("Remove loops that print a lot; keep verbose output short.", limit=True),
    K.MEMORY_LIMIT: KindInfo("The notebook used more memory than allowed; check for huge arrays "
                             "or layers.", limit=True),
    K.PROCESS_LIMIT: KindInfo("The notebook started too many processes or threads; remove loops "
                              "that start processes (os.fork, subprocess, multiprocessing).",
                              limit=True),
    K.DISK_LIMIT: KindInfo("The notebook wrote more files than allowed; save only what the "
                           "exercise asks.", limit=True),
    K.FILE_SIZE_LIMIT: KindInfo("The notebook wrote a file larger than the grading machine "
                                "allows; save only what the exercise asks, in small files.",
                                limit=True),
    K.CPU_LIMIT: KindInfo("The notebook used too much CPU time; the grader shortens training "
                          "itself.", limit=True),
    K.KERNEL_START: KindInfo("The grading machine was too busy to start your notebook; this is "
                             "not your fault. Submit again later (an instructor's re-run of "
                             "the batch retries it).", limit=True, retry=True),
}

#: the kinds that are the grader's fault, not the submission's (exit code 5)
GRADER_FAULTS = frozenset(k for k, info in KINDS.items() if info.fault)
#: the time and resource limits
LIMITS = frozenset(k for k, info in KINDS.items() if info.limit)
#: the kinds a re-run of ``grade`` grades again instead of reusing the saved result
RETRIED = frozenset(k for k, info in KINDS.items() if info.retry)
#: the advice of a graded run's error kinds when nothing more specific is known
GENERIC = {k.value: info.advice for k, info in KINDS.items() if info.advice and not info.intake}


def kind_of(value: str) -> ErrorKind | str:
    """``value`` as an :class:`ErrorKind` (a string no kind has, from an older result, stays)."""
    try:
        return ErrorKind(value)
    except ValueError:
        return value


def default_advice(kind: str) -> str | None:
    """The advice for ``kind`` when nothing more specific is known."""
    found = kind_of(kind)
    return KINDS[found].advice if isinstance(found, ErrorKind) else None


def is_grader_fault(kind: str | None) -> bool:
    return kind in GRADER_FAULTS


def is_retried(kind: str | None) -> bool:
    """A saved result of this kind is graded again by a re-run (nothing of the work was judged)."""
    return kind in RETRIED
