"""What runs inside a batch worker process: grade one submission at a time, send plain JSON.

A worker is a spawned process in its own process group, so a Ctrl-C on the terminal reaches
only the coordinator (``grader.batch.local.workers.LocalPool``), which stops the workers itself. A
worker builds its launcher and verifier once and grades with ``pipeline.check_notebook``; it
forks its unsandboxed kernels and its verification workers from the coordinator's zygotes. A
worker whose coordinator disappears (``kill -9``) kills its own processes and exits (what it
forked from a zygote is killed by its supervisor as the worker's connection closes).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from grader import pipeline
from grader.batch.faults import fault_result
from grader.batch.local.processes import STOP_SIGNAL, kill_tree
from grader.exceptions import GraderError
from grader.exercise.spec import Spec
from grader.sandbox import zygotes
from grader.sandbox.zygotes import Shared
from grader.settings import Settings
from grader.util.scratch import use_as_tempdir


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs, sent once when it starts."""

    spec_path: Path
    data_file: Path
    settings: Settings
    tmpdir: str
    coordinator: int
    #: the coordinator's zygotes to fork kernels and verification workers from
    #: (``grader.sandbox.zygotes.start_ahead``)
    zygotes: tuple[Shared, ...] = ()


def zygotes_wanted(settings: Settings, tasks: int) -> list[tuple[dict[str, str], tuple[str, ...] | None]]:
    """The zygotes a batch's workers fork from (environment, command), for ``tasks``
    submissions that name Keras or TensorFlow (``grader.execute.needs``; the others start
    neither a kernel nor a verification worker from a zygote): the verification workers'
    (every grading with a model cross-checks) where two or more are (it costs what one worker's
    start does: for one, that worker starts as a child) and, at ``--sandbox off``, the
    kernels' where any is (a worker would otherwise start its own), and the sandboxed kernels'
    where this machine's level lets a forked kernel enter its sandbox (``grader.sandbox.join``)."""
    from grader.sandbox.launch import minimal_env
    from grader.verify.process import ZYGOTE, worker_env

    wanted: list[tuple[dict[str, str], tuple[str, ...] | None]] = []
    if tasks >= 2:
        wanted.append((worker_env(settings), ZYGOTE))
    if settings.sandbox == "off" and tasks >= 1:
        wanted.append((minimal_env(settings, ""), None))  # its own folders are not in its key
    elif tasks >= 1:
        from grader.sandbox.launcher import join_env
        if (env := join_env(settings)) is not None:
            wanted.append((env, None))
    return wanted


def worker_main(conn, config: WorkerConfig) -> None:
    """Grade jobs from ``conn`` until told to stop (``null``) or the pipe closes."""
    _detach(config)
    zygotes.adopt(config.zygotes)
    grader = WorkerGrader(config)
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
    use_as_tempdir(config.tmpdir)
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


class WorkerGrader:
    """The worker's long-lived state: the spec and a ``pipeline.Grader`` (launcher, verifier),
    built on first use (any executor's worker can grade with it: it takes a notebook path and
    returns plain JSON)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.spec: Spec | None = None
        self.grader: pipeline.Grader | None = None

    def grade(self, student: str, notebook: Path) -> dict:
        try:
            if self.grader is None:
                self._setup()
            assert self.grader is not None  # _setup made it
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
        # (the memo kept between runs when it is on, else a folder of this batch's own)
        from grader.verify.persistent import folder_for
        kept = folder_for(self.config.settings.memo)
        memo = None if kept else Path(self.config.tmpdir) / "verify-memo"
        self.grader = api.grader_for(self.spec, self.config.data_file, self.config.settings,
                                     memo_dir=memo)

    def close(self) -> None:
        if self.grader is not None:
            self.grader.close()
