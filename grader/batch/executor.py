"""Where a batch's submissions are graded: the ``Executor`` seam.

The coordinator (``grader.batch.folder``) keeps discovery, reuse, the output folder, progress
and exit codes; an executor only turns tasks into results. ``LocalPool`` (worker processes on
this machine, ``grader.batch.local.workers``) is the default; another executor (a cluster) is one new
module: a subclass of ``Executor`` decorated with :func:`register`, which says when the settings
want it (``wanted``), how many gradings it runs at once (``default_size``) and what ``grade``
prints first (``announce``), with the option that chooses it declared beside it
(``grader.options.declare``). Its module is named in :data:`BUILTIN`, or imported (and so
registered) by anything before the command line is parsed.

The contract every executor keeps:

- ``run(tasks)`` returns once every task has had ``on_result(task, result_dict)`` called for it
  **exactly once**, in the coordinator's thread; ``result_dict`` is ``Result.to_dict()`` (plain
  JSON, never a pickled object from student code), a grader-fault result where grading failed;
- ``on_tick()`` is called at least every few seconds while work is in flight (progress bar);
- on any exception (Ctrl-C's ``KeyboardInterrupt`` included) it stops its work and re-raises:
  the results already reported are kept by the coordinator and a re-run grades the rest.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from grader.exercise.spec import Spec
from grader.settings import Settings
from grader.util import plugins

OnResult = Callable[["Task", dict], None]


@dataclass(frozen=True)
class Task:
    """One submission to grade: the student's id and a private copy of their notebook."""

    student: str
    notebook: Path


class Executor(ABC):
    """Grades a batch's tasks with ``size`` gradings at a time (see the module docstring)."""

    #: where it grades, shown in the progress line and the summary: "local" (the lines say "N
    #: workers (K TensorFlow threads each)") or e.g. "cluster tcp://…" (they say "on cluster
    #: tcp://… (N at once)": each worker machine picks its own TensorFlow threads)
    name: str = "executor"

    def __init__(self, size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: OnResult, on_tick: Callable[[], None] = lambda: None) -> None:
        self.size, self.spec, self.data_file, self.settings = size, spec, data_file, settings
        self.on_result, self.on_tick = on_result, on_tick

    #: the executor used when no other is asked for (the local worker pool)
    default: ClassVar[bool] = False
    #: whether the coordinator's machine runs the kernels (then it checks its own sandbox
    #: before grading); a cluster's workers each check their own
    grades_here: ClassVar[bool] = True

    @classmethod
    def wanted(cls, settings: Settings) -> bool:
        """Whether ``settings`` (its option, e.g. ``--cluster``) ask for this executor."""
        return False

    @classmethod
    def default_size(cls, settings: Settings, pending: int) -> int | None:
        """Gradings at once without ``--workers`` (``None``: this machine's cores and memory)."""
        return None

    @classmethod
    def announce(cls, settings: Settings) -> str | None:
        """The line ``grader grade`` prints before grading (``None``: the sandbox level)."""
        return None

    @abstractmethod
    def run(self, tasks: list[Task]) -> None:
        """Grade every task, reporting each result once; see the module docstring."""


#: the modules of the shipped executors, imported (and so registered) on first use
BUILTIN = ("grader.batch.local.workers", "grader.batch.cluster.dask_executor")
_REGISTRY: list[type[Executor]] = []


def register(executor: type[Executor]) -> type[Executor]:
    """Offer ``executor`` to ``grader grade`` (a class decorator; see the module docstring)."""
    if executor not in _REGISTRY:
        _REGISTRY.append(executor)
    return executor


def unregister(executor: type[Executor]) -> None:
    if executor in _REGISTRY:
        _REGISTRY.remove(executor)


def available() -> list[type[Executor]]:
    """Every registered executor (the built-ins imported once: their modules declare their
    options, so the command line is built after this)."""
    plugins.load(BUILTIN)
    return list(_REGISTRY)


def chosen(settings: Settings) -> type[Executor]:
    """The executor the settings ask for: the first (not the default) whose ``wanted`` says so,
    else the default one (the local worker pool)."""
    found = available()
    for executor in found:
        if not executor.default and executor.wanted(settings):
            return executor
    return next(e for e in found if e.default)


def executor_for(size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: OnResult, on_tick: Callable[[], None] = lambda: None) -> Executor:
    """An instance of the executor the settings ask for (:func:`chosen`)."""
    return chosen(settings)(size, spec, data_file, settings, on_result, on_tick)


def default_size(settings: Settings, pending: int) -> int | None:
    """Gradings at once when ``--workers`` is not given, as the chosen executor says (a
    cluster's slots); ``None``: what this machine's cores and free memory allow."""
    return chosen(settings).default_size(settings, pending)
