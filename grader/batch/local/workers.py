"""Batch worker processes on this machine: the pool (``LocalPool``) outlives its workers.

Each worker (``grader.batch.local.worker_process``) grades one submission at a time; only JSON crosses
the pipe. A worker that dies, or is still busy long after its submission's own limits, is
killed with every process under it (kernel, verifier; ``grader.batch.local.processes``) and its
submission gets a grader-fault result; the batch goes on with a fresh worker.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext
from pathlib import Path

from grader.batch.executor import Executor, Task, register
from grader.batch.faults import FAULT_ADVICE, fault_result
from grader.batch.local.processes import STOP_SIGNAL, how_it_ended, ignore_sigint, kill_tree
from grader.batch.local.worker_process import (
    WorkerConfig,
    WorkerGrader,
    worker_log,
    worker_main,
    zygotes_wanted,
)
from grader.exceptions import GraderError
from grader.execute.needs import count_wanting
from grader.exercise.spec import Spec
from grader.sandbox import zygotes
from grader.settings import Settings
from grader.util.files import tail_of
from grader.util.isolation import isolated_spawn
from grader.util.scratch import scratch_folder

__all__ = ["BATCH_PREFIX", "FAULT_ADVICE", "LocalPool", "STOP_SIGNAL", "Task", "WorkerConfig",
           "WorkerGrader", "fault_result", "kill_tree", "task_deadline", "worker_log", "worker_main"]

LOG_TAIL_BYTES = 3000
BATCH_PREFIX = "grader-batch-"
#: workers in a row that die before they run: the environment is broken, stop the batch
MAX_FAILED_STARTS = 3


def task_deadline(settings: Settings) -> float:
    """Seconds a worker may spend on one submission before the coordinator kills it."""
    verify = settings.verify_timeout if settings.verify else 0.0
    return settings.startup_timeout + settings.notebook_timeout + verify + settings.worker_grace


def _pid(worker: _Worker) -> int:
    """The worker's process id (it is started when made, so it has one)."""
    pid = worker.process.pid
    assert pid is not None
    return pid


class _Worker:
    def __init__(self, ctx: SpawnContext, config: WorkerConfig) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, config), name="grader-worker")
        with isolated_spawn(config.tmpdir):  # nothing of the working folder is imported there
            self.process.start()
        child.close()
        self.task: Task | None = None
        self.since = 0.0
        self.log_start = 0  # the log's size when the task was assigned
        self.ready = False  # the process came up and runs worker_main

    def assign(self, task: Task) -> None:
        self.conn.send_bytes(json.dumps({"student": task.student,
                                         "notebook": str(Path(task.notebook).absolute())}).encode())
        self.task, self.since = task, time.monotonic()

    def messages(self) -> list:
        """Whatever the worker has sent; stops at the end of the pipe (a dead worker)."""
        found = []
        try:
            while self.conn.poll():
                found.append(json.loads(self.conn.recv_bytes()))
        except (EOFError, OSError, ValueError):
            self.process.join(1.0)
        return found


@register
class LocalPool(Executor):
    """The default executor: spawned worker processes on this machine (module docstring)."""

    name = "local"
    default = True

    def __init__(self, size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: Callable[[Task, dict], None], on_tick: Callable[[], None] = lambda: None):
        super().__init__(size, spec, data_file, settings, on_result, on_tick)
        # what a worker and its kernels put in the temp dir goes in here (removed by the next
        # batch if this one is killed)
        self.tmpdir = scratch_folder(BATCH_PREFIX)
        # absolute: a worker runs in its own folder (``grader.util.isolation``), not in ours
        self.config = WorkerConfig(Path(str(spec.path)).absolute(), Path(data_file).absolute(),
                                   settings, self.tmpdir, os.getpid())
        self.deadline = task_deadline(settings)
        self.ctx = get_context("spawn")  # no fork of a process with threads
        self.workers: list[_Worker] = []
        self.pending: deque[Task] = deque()
        self.failed_starts = 0

    def run(self, tasks: list[Task]) -> None:
        self.pending = deque(tasks)
        if tasks:  # the workers' zygotes start while the workers do (none for no work)
            wanting = count_wanting((task.notebook for task in tasks), self.settings.max_notebook_bytes)
            self.config = replace(self.config, zygotes=tuple(
                zygotes.start_ahead(zygotes_wanted(self.settings, wanting))))
        try:
            while self.pending or any(w.task for w in self.workers):
                self._staff()
                ready = set(wait([w.conn for w in self.workers]
                                 + [w.process.sentinel for w in self.workers], timeout=1.0))
                for worker in list(self.workers):
                    self._check(worker, ready)
                self.on_tick()
        except BaseException:
            self.close(graceful=False)
            raise
        self.close(graceful=True)

    def _staff(self) -> None:
        idle = [w for w in self.workers if w.task is None]
        while len(self.workers) < self.size and len(self.pending) > len(idle):
            worker = _Worker(self.ctx, self.config)
            self.workers.append(worker)
            idle.append(worker)
        for worker in idle:
            if self.pending:
                worker.log_start = _size(worker_log(self.tmpdir, _pid(worker)))
                worker.assign(self.pending.popleft())

    def _check(self, worker: _Worker, ready: set) -> None:
        if worker.conn in ready:
            for message in worker.messages():
                if message == "ready":
                    worker.ready, self.failed_starts = True, 0
                elif worker.task:
                    task, worker.task = worker.task, None
                    if isinstance(message, dict) and isinstance(message.get("spec"), dict):
                        message["spec"]["path"] = self.spec.path  # as given, not made absolute
                    self.on_result(task, message)
        if not worker.process.is_alive():
            if worker.ready:
                self._lost(worker, f"the grading worker process died ({how_it_ended(worker.process.exitcode)}) while "
                                   "grading this submission")
            else:
                self._failed_start(worker)
        elif worker.task and time.monotonic() - worker.since > self.deadline:
            kill_tree(_pid(worker))
            self._lost(worker, f"the grading worker was still busy after {self.deadline:g} s, "
                               "past every limit of this submission, and was stopped")

    def _lost(self, worker: _Worker, message: str) -> None:
        worker.process.join(5.0)
        self.workers.remove(worker)
        worker.conn.close()
        if worker.task:
            # only what was written while grading this task: earlier students' kernels wrote
            # to the same log, and their output must not reach this student's result
            tail = tail_of(worker_log(self.tmpdir, _pid(worker)), LOG_TAIL_BYTES,
                           worker.log_start).strip()
            result = fault_result(worker.task.student, self.spec, message, detail=tail or None)
            self.on_result(worker.task, result.to_dict())

    def _failed_start(self, worker: _Worker) -> None:
        """A worker that never came up did not touch its task: it goes back in the queue."""
        worker.process.join(5.0)
        self.workers.remove(worker)
        worker.conn.close()
        if worker.task:
            self.pending.appendleft(worker.task)
        self.failed_starts += 1
        if self.failed_starts >= MAX_FAILED_STARTS:
            raise GraderError(f"{self.failed_starts} grading workers in a row could not start "
                              f"({how_it_ended(worker.process.exitcode)}); "
                              "see the messages above. A script that calls grade_folder must "
                              "do so under `if __name__ == '__main__':`.")

    def close(self, graceful: bool) -> None:
        """Stop every worker (killing what is left after the stop timeout); remove temp files."""
        previous = ignore_sigint()
        try:
            for worker in self.workers:
                try:
                    if graceful and worker.task is None:
                        worker.conn.send_bytes(b"null")
                    else:
                        os.kill(_pid(worker), STOP_SIGNAL)
                except (OSError, ValueError):
                    pass
            end = time.monotonic() + self.settings.worker_stop_timeout
            for worker in self.workers:
                worker.process.join(max(0.0, end - time.monotonic()))
                if worker.process.is_alive():
                    kill_tree(_pid(worker))
                    worker.process.join(5.0)
                worker.conn.close()
            self.workers = []
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
