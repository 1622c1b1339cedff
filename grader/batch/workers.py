"""Batch worker processes: each grades one submission at a time, and the pool outlives them.

A worker is a spawned process in its own process group, so a Ctrl-C on the terminal reaches only
the coordinator, which then stops the workers itself. A worker builds its launcher and verifier
once (a ``pipeline.Grader``) and grades with it; only JSON crosses the pipe. A worker that dies,
or is still busy long after its submission's own limits, is killed with every process under it
(kernel, verifier) and its submission gets a grader-fault result; the batch goes on with a fresh
worker. A worker whose coordinator disappears (``kill -9``) kills its own processes and exits.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable

import psutil

from grader import pipeline
from grader.batch.executor import Executor, Task
from grader.exceptions import GraderError
from grader import errors
from grader.result import Result
from grader.settings import Settings
from grader.spec import Spec

FAULT_ADVICE = errors.RETRY
LOG_TAIL_BYTES = 3000
BATCH_PREFIX = "grader-batch-"
#: workers in a row that die before they run: the environment is broken, stop the batch
MAX_FAILED_STARTS = 3
#: asks a worker to kill its kernel and exit; not SIGTERM, which nbclient handles itself (and
#: resets to the default) while a notebook runs
STOP_SIGNAL = signal.SIGUSR1


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs, sent once when it starts."""

    spec_path: Path
    data_file: Path
    settings: Settings
    tmpdir: str
    coordinator: int


def fault_result(student: str, spec: Spec | None, message: str, *, kind: str = "internal",
                 detail: str | None = None) -> Result:
    """A result for a submission the grader failed on (exit code 5); a re-run retries it."""
    return Result.grader_fault(student, message, kind=kind, detail=detail, spec=spec,
                               versions=pipeline.versions())


def task_deadline(settings: Settings) -> float:
    """Seconds a worker may spend on one submission before the coordinator kills it."""
    verify = settings.verify_timeout if settings.verify else 0.0
    return settings.startup_timeout + settings.notebook_timeout + verify + settings.worker_grace


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """SIGKILL ``pid`` and every process under it (kernels run in their own sessions)."""
    try:
        root = psutil.Process(pid)
        if include_root:
            root.suspend()  # no new children between listing and killing
        procs = root.children(recursive=True) + ([root] if include_root else [])
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


# -- inside a worker process ---------------------------------------------------------------------

def worker_main(conn, config: WorkerConfig) -> None:
    """Grade jobs from ``conn`` until told to stop (``null``) or the pipe closes."""
    _detach(config)
    grader = _Grader(config)
    conn.send_bytes(b'"ready"')
    try:
        while True:
            try:
                job = json.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if job is None:
                return
            result = grader.grade(job["student"], Path(job["notebook"]))
            if _stopping.is_set():  # the result of a run cut short is not a result
                return
            conn.send_bytes(json.dumps(result).encode())
    finally:
        grader.close()


def _detach(config: WorkerConfig) -> None:
    os.setpgrp()
    log = os.open(worker_log(config.tmpdir, os.getpid()), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for sig in (STOP_SIGNAL, signal.SIGTERM):  # nbclient takes SIGTERM over while it runs
        signal.signal(sig, _terminate)
    tempfile.tempdir = os.environ["TMPDIR"] = config.tmpdir
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None).prctl(1, int(STOP_SIGNAL))  # PR_SET_PDEATHSIG
        except Exception:
            pass
    threading.Thread(target=_watch_parent, args=(config.coordinator,), daemon=True).start()


def _watch_parent(coordinator: int) -> None:
    """Portable fallback for PR_SET_PDEATHSIG: stop when the coordinator is gone."""
    while os.getppid() == coordinator:
        time.sleep(1.0)
    os.kill(os.getpid(), STOP_SIGNAL)


_stopping = threading.Event()


def _terminate(signum, frame) -> None:
    _stopping.set()
    kill_tree(os.getpid(), include_root=False)
    raise SystemExit(128 + signum)  # unwinds: temp dirs removed, verifier closed


def worker_log(tmpdir: str, pid: int) -> str:
    return os.path.join(tmpdir, f"worker-{pid}.log")


class _Grader:
    """The worker's long-lived state: the spec and a ``pipeline.Grader`` (launcher, verifier),
    built on first use."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.spec: Spec | None = None
        self.grader: pipeline.Grader | None = None

    def grade(self, student: str, notebook: Path) -> dict:
        try:
            if self.grader is None:
                self._setup()
            result = self.grader.grade(notebook)
        except GraderError as exc:  # setting up (spec, sandbox, verifier): the grader's fault
            result = fault_result(student, self.spec, exc.message, kind=exc.kind)
        except Exception as exc:
            result = fault_result(student, self.spec, f"the grading worker failed: {exc!r}",
                                  detail=traceback.format_exc())
        result.submission = student
        return result.to_dict()

    def _setup(self) -> None:
        from grader import api
        self.spec = Spec.load(self.config.spec_path)
        # one long-lived Verifier per worker (TensorFlow imported once); the workers of a batch
        # share its memo, so an architecture many students built is trained once
        memo = Path(self.config.tmpdir) / "verify-memo"
        self.grader = api.grader_for(self.spec, self.config.data_file, self.config.settings,
                                     memo_dir=memo).start()

    def close(self) -> None:
        if self.grader is not None:
            self.grader.close()


# -- in the coordinator --------------------------------------------------------------------------

class _Worker:
    def __init__(self, ctx, config: WorkerConfig) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, config), name="grader-worker")
        self.process.start()
        child.close()
        self.task: Task | None = None
        self.since = 0.0
        self.log_start = 0  # the log's size when the task was assigned
        self.ready = False  # the process came up and runs worker_main

    def assign(self, task: Task) -> None:
        self.conn.send_bytes(json.dumps({"student": task.student,
                                         "notebook": str(task.notebook)}).encode())
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


class LocalPool(Executor):
    """The default executor: spawned worker processes on this machine (module docstring)."""

    name = "local"

    def __init__(self, size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: Callable[[Task, dict], None], on_tick: Callable[[], None] = lambda: None):
        super().__init__(size, spec, data_file, settings, on_result, on_tick)
        _remove_stale_batches()
        self.tmpdir = tempfile.mkdtemp(prefix=f"{BATCH_PREFIX}{os.getpid()}-")
        os.chmod(self.tmpdir, 0o711)  # a sandboxed kernel (another uid) reaches its own run dir
        self.config = WorkerConfig(Path(spec.path), data_file, settings, self.tmpdir, os.getpid())
        self.deadline = task_deadline(settings)
        self.ctx = get_context("spawn")  # no fork of a process with threads
        self.workers: list[_Worker] = []
        self.pending: deque[Task] = deque()
        self.failed_starts = 0

    def run(self, tasks: list[Task]) -> None:
        self.pending = deque(tasks)
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
                worker.log_start = _size(worker_log(self.tmpdir, worker.process.pid))
                worker.assign(self.pending.popleft())

    def _check(self, worker: _Worker, ready: set) -> None:
        if worker.conn in ready:
            for message in worker.messages():
                if message == "ready":
                    worker.ready, self.failed_starts = True, 0
                elif worker.task:
                    task, worker.task = worker.task, None
                    self.on_result(task, message)
        if not worker.process.is_alive():
            if worker.ready:
                self._lost(worker, f"the grading worker process died ({_how(worker)}) while "
                                   "grading this submission")
            else:
                self._failed_start(worker)
        elif worker.task and time.monotonic() - worker.since > self.deadline:
            kill_tree(worker.process.pid)
            self._lost(worker, f"the grading worker was still busy after {self.deadline:g} s, "
                               "past every limit of this submission, and was stopped")

    def _lost(self, worker: _Worker, message: str) -> None:
        worker.process.join(5.0)
        self.workers.remove(worker)
        worker.conn.close()
        if worker.task:
            # only what was written while grading this task: earlier students' kernels wrote
            # to the same log, and their output must not reach this student's result
            tail = _tail(worker_log(self.tmpdir, worker.process.pid), worker.log_start)
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
                              f"({_how(worker)}); "
                              "see the messages above. A script that calls grade_folder must "
                              "do so under `if __name__ == '__main__':`.")

    def close(self, graceful: bool) -> None:
        """Stop every worker (killing what is left after the stop timeout); remove temp files."""
        previous = _ignore_sigint()
        try:
            for worker in self.workers:
                try:
                    if graceful and worker.task is None:
                        worker.conn.send_bytes(b"null")
                    else:
                        os.kill(worker.process.pid, STOP_SIGNAL)
                except (OSError, ValueError):
                    pass
            end = time.monotonic() + self.settings.worker_stop_timeout
            for worker in self.workers:
                worker.process.join(max(0.0, end - time.monotonic()))
                if worker.process.is_alive():
                    kill_tree(worker.process.pid)
                    worker.process.join(5.0)
                worker.conn.close()
            self.workers = []
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _how(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _remove_stale_batches() -> None:
    """Temp folders of batches whose coordinator was killed (``kill -9``)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{BATCH_PREFIX}*-*"):
        pid = folder.name[len(BATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _ignore_sigint():
    """A second Ctrl-C must not interrupt the clean-up of the first."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _tail(path: str, start: int = 0) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(start, f.tell() - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
