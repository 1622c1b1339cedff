"""The verification worker as seen from the grader: one child process, JSON lines both ways.

The child (``grader.verify.worker``) starts isolated (``python -I``, a minimal environment, a
temporary working folder of its own: ``grader.util.isolation``), so no file of the folder the
grader was started from, or of a student, is ever imported by it. It runs in its own session,
so a timeout kills its whole process group. Its memory is capped with RLIMIT_DATA, set by the
worker itself (RLIMIT_AS breaks TensorFlow's thread start-up); the limit counts what TensorFlow's
import took either way. Its stderr goes to an unlinked temporary file, so a chatty TensorFlow can
never block the pipe; the tail of it explains a crash.

On Linux the worker is forked from a zygote that has imported TensorFlow once for the grader
process (``grader.verify.zygote``), started isolated the same way; a worker forked from it runs
the same program in the same folder, environment and session of its own.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref

from grader.sandbox import zygotes
from grader.sandbox.forked import ForkedProcess
from grader.settings import Settings
from grader.util.files import TAIL_BYTES, tail
from grader.util.isolation import child_env, python_argv
from grader.util.scratch import scratch_folder

MAX_ANSWER_BYTES = 10 * 1024**2
STOP_TIMEOUT = 5.0  # seconds a worker gets to exit after its stdin closes
#: a worker's working folder: ``grader-verify-{pid of this process}-…``
FOLDER_PREFIX = "grader-verify-"
#: the workers' zygote (``grader.verify.zygote``), started isolated as a worker is
ZYGOTE = tuple(python_argv("grader.verify.zygote"))


class WorkerTimeout(Exception):
    """No answer before the deadline; the worker has been killed."""


class WorkerDied(Exception):
    """The worker exited without answering; ``signal`` is set when a signal killed it."""

    def __init__(self, message: str, signal: int | None = None, log: str = "") -> None:
        super().__init__(message)
        self.signal = signal
        self.log = log


#: the warm-up job (``grader.verify.warmup``), with the id its answer must carry
WARM_UP = {"kind": "warm_up", "id": "warm-up"}


class WorkerProcess:
    """A started worker; ``request`` sends one job and waits for its answer line.

    With ``fork`` (the default) it is forked from the zygote of its environment
    (``grader.verify.zygote``), which imported TensorFlow once for this grader process, when
    that zygote can fork now; else it is started as a child process, at once, so that its start
    overlaps the notebook's run as before (the zygote is started in the background from this
    process's second worker on: ``zygotes.ready_now``). A batch worker forks from its
    coordinator's zygote, waiting for it if it is still starting (``zygotes.adopted``)."""

    #: a warm-up job sent whose answer ``wait_ready`` has not read yet
    warming = False
    #: jobs sent so far (a job without an id of its own gets the count as its id)
    _sent = 0

    def __init__(self, settings: Settings, fork: bool = True) -> None:
        self.started = time.monotonic()
        self.log = tempfile.TemporaryFile()
        # the worker's working folder: removed when this process ends without closing it, and
        # by the next grader if this one is killed (``grader.util.scratch``)
        self.workdir = scratch_folder(FOLDER_PREFIX, mode=0o700)
        weakref.finalize(self, shutil.rmtree, self.workdir, True)
        env = worker_env(settings)
        try:
            # a batch coordinator's zygote, started beside this worker process: waited for (a
            # TensorFlow import of a child's would compete with the kernels on the machine)
            wait = fork and zygotes.adopted(env, ZYGOTE)
            forked = forked_worker(env, self.workdir, self.log.fileno(), wait) if fork else None
            self.proc: subprocess.Popen | ForkedProcess = forked or subprocess.Popen(
                python_argv("grader.verify.worker"), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self.log, env=env,
                cwd=self.workdir, start_new_session=True, close_fds=True)
        except BaseException:
            self._close_files()
            raise
        #: whether this worker was forked by the zygote (False: started as a child)
        self.forked = forked is not None
        self._buffer = b""
        self.ready: dict | None = None

    def wait_ready(self, timeout: float) -> dict:
        """The worker's hello line (versions, pid), and its warm-up's answer if it was asked to
        warm up, waiting at most ``timeout`` from the start."""
        if self.ready is None:
            self.ready = self._read(self.started + timeout)
        if self.warming:
            self.warming = False
            answer = self._answer(WARM_UP["id"], self.started + timeout)
            self.ready["warm_up"] = answer.get("warm_up")
        return self.ready

    def warm_up(self) -> None:
        """Give the worker its warm-up job (``grader.verify.warmup``) now, ahead of the notebook;
        ``wait_ready`` reads the answer. A worker already gone is reported there."""
        try:
            self._send(WARM_UP)
            self.warming = True
        except OSError:
            pass

    def request(self, job: dict, timeout: float) -> dict:
        """Send ``job`` and return its answer; every job carries an id (its own, or the next
        number), and an answer with another one is a worker out of step: killed, said as a
        death, never taken for this job's answer."""
        self._sent += 1
        job = job if "id" in job else {**job, "id": self._sent}
        try:
            self._send(job)
        except OSError:  # gone since its last answer (e.g. killed while idle): said as a death
            raise self._died() from None
        return self._answer(job["id"], time.monotonic() + timeout)

    def _answer(self, job_id, deadline: float) -> dict:
        answer = self._read(deadline)
        if answer.get("id") != job_id:
            self.kill()
            raise WorkerDied(f"the verification worker answered another job ({answer.get('id')!r} "
                             f"for {job_id!r})", None, self.log_tail())
        return answer

    def _send(self, job: dict) -> None:
        assert self.proc.stdin is not None  # started with stdin=PIPE
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self, deadline: float) -> dict:
        assert self.proc.stdout is not None  # started with stdout=PIPE
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:  # not select(): no limit on fd numbers
            selector.register(fd, selectors.EVENT_READ)
            self._fill(fd, selector, deadline)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _fill(self, fd: int, selector: selectors.BaseSelector, deadline: float) -> None:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            # past the deadline, what is already in the pipe still counts: a worker started
            # before a long notebook said it was ready long ago, and must not be killed unread
            if not selector.select(max(remaining, 0)):
                if remaining <= 0:
                    self.kill()
                    raise WorkerTimeout()
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise self._died()
            self._buffer += chunk
            if len(self._buffer) > MAX_ANSWER_BYTES:
                self.kill()
                raise WorkerDied("the worker's answer was far too long")

    def _died(self) -> WorkerDied:
        code: int | None
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        sig = -code if code is not None and code < 0 else None
        how = f"was killed by signal {signal.Signals(sig).name}" if sig else f"exited ({code})"
        return WorkerDied(f"the verification worker {how}", sig, self.log_tail())

    def log_tail(self, size: int = TAIL_BYTES) -> str:
        try:
            return tail(self.log, size)
        except (OSError, ValueError):  # ValueError: the log is closed already
            return ""

    def kill(self, wait: bool = True) -> None:
        """Kill the worker's whole process group (it is a session leader; a forked one is killed
        by its supervisor: ``ForkedProcess.kill``). ``wait=False``: the signal now, the reaping
        and its files in a thread (a grown worker's exit takes ~0.06 s, off a grading's path)."""
        self._signal()
        if wait:
            self._reap()
        else:
            threading.Thread(target=self._reap, name="grader-reap-worker").start()

    def _signal(self) -> None:
        if self.proc.poll() is None:
            if isinstance(self.proc, ForkedProcess):
                self.proc.kill()
            else:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # a supervisor that does not answer: let go of it
            if isinstance(self.proc, ForkedProcess):
                self.proc.close()
        self._close_files()

    def close(self) -> None:
        """Kill at once: the worker keeps nothing worth a graceful exit (the memo lives in the
        grader), and TensorFlow's teardown alone takes ~0.7 s."""
        self.kill()

    def _close_files(self) -> None:
        proc = getattr(self, "proc", None)
        for f in (proc and proc.stdin, proc and proc.stdout, self.log):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def forked_worker(env: dict[str, str], cwd: str, log: int,
                  wait: bool = False) -> ForkedProcess | None:
    """A worker forked by the zygote of ``env``, its stdin and stdout pipes to this process and
    its stderr ``log``; None where no zygote can fork it (``wait``: for its zygote to start;
    else only one that can fork now)."""
    child_in, ours_in = os.pipe()
    ours_out, child_out = os.pipe()
    forked = None
    try:
        forked = zygotes.fork(env, cwd, [child_in, child_out, log], command=ZYGOTE, wait=wait)
        if forked is not None:
            forked.stdin = os.fdopen(ours_in, "wb")
            forked.stdout = os.fdopen(ours_out, "rb")
        return forked
    finally:
        for fd in (child_in, child_out) if forked else (child_in, child_out, ours_in, ours_out):
            os.close(fd)


def worker_env(settings: Settings) -> dict[str, str]:
    """A minimal environment plus the worker's limits; TensorFlow's C++ logs kept quiet."""
    env = child_env()
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0",
                "GRADER_MEMORY_BYTES": str(int(settings.verify_memory_bytes)),
                "GRADER_TF_THREADS": str(int(settings.tf_threads))})
    if settings.tf_threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(settings.tf_threads)
        env["TF_NUM_INTEROP_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = str(settings.tf_threads)
    return env
