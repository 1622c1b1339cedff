"""Where a batch's submissions are graded: the ``Executor`` seam.

The coordinator (``grader.batch.folder``) keeps discovery, reuse, the output folder, progress
and exit codes; an executor only turns tasks into results. ``LocalPool`` (worker processes on
this machine, ``grader.batch.workers``) is the default; another executor (a cluster) is one new
module whose class subclasses ``Executor`` and is named in ``executor_for``.

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

from grader.settings import Settings
from grader.spec import Spec

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

    @abstractmethod
    def run(self, tasks: list[Task]) -> None:
        """Grade every task, reporting each result once; see the module docstring."""


def executor_for(size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: OnResult, on_tick: Callable[[], None] = lambda: None) -> Executor:
    """The executor the settings ask for: a Dask cluster (``settings.cluster``) or the local
    worker pool."""
    if settings.cluster:
        from grader.batch.dask_executor import DaskExecutor

        return DaskExecutor(size, spec, data_file, settings, on_result, on_tick)
    from grader.batch.workers import LocalPool

    return LocalPool(size, spec, data_file, settings, on_result, on_tick)


def default_size(settings: Settings, pending: int) -> int:
    """Gradings at once when ``--workers`` is not given: the cluster's ``GRADING`` slots, or
    what this machine's cores and free memory allow."""
    if settings.cluster:
        from grader.batch.dask_executor import cluster_size

        return cluster_size(settings)
    from grader.batch.folder import default_workers

    return default_workers(pending)
