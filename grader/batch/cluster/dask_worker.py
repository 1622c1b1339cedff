"""What runs inside a Dask worker when a batch is graded on a cluster (``grade --cluster``).

A Dask worker process never imports TensorFlow: a task grades one submission with the same
``WorkerGrader`` a local batch worker uses (``grader.batch.local.workers``), whose kernel and verification
subprocess run TensorFlow in the worker machine's own sandbox. Nothing here trusts the
coordinator's paths: the notebook arrives as bytes with their sha256 (checked here), the
exercise as the reference folder's JSON files (checked against the spec's sha256), and the
data file is the worker machine's own (``GRADER_DATA`` or its cache, verified by sha256 when
resolved). What goes back is a JSON string: the result and the trainings this task added to the
verification memo, which the coordinator hands to later tasks on every machine.

``GraderPlugin`` is registered by the coordinator on every worker (those that join later too):
it refuses a worker whose grader code differs from the coordinator's, or whose machine lacks the
sandbox the batch requires, and gives a worker without a ``GRADING`` resource one slot per
``WORKER_MEMORY_BYTES`` of its memory.
"""
from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Reschedule, WorkerPlugin, get_worker

from grader import __version__, api
from grader.batch.local.workers import WorkerConfig, WorkerGrader, fault_result
from grader.exceptions import GraderError
from grader.exercise.spec import Spec
from grader.pipeline import source_fingerprint
from grader.settings import Settings
from grader.util.files import sha256_bytes
from grader.util.scratch import scratch_folder, use_as_tempdir

#: the Dask worker resource a grading holds: one per kernel + verifier the machine can carry
GRADING = "GRADING"
#: memory one grading may need at once (as ``grader.batch.folder.WORKER_MEMORY_BYTES``)
SLOT_BYTES = 2 * 1024**3
#: the Dask event a task logs when it starts on a worker (its key): the coordinator's clock
#: for the task's deadline starts then, not while it waits for a slot
START_TOPIC = "cnn-grader-start"
logger = logging.getLogger("grader.batch")

_lock = threading.Lock()
_tmpdir: list[str] = []
#: the worker folder's prefix: ``grader-dask-{pid}-…``
SCRATCH_PREFIX = "grader-dask-"


@functools.lru_cache(maxsize=1)
def identity() -> dict:
    """What must be equal on the coordinator and every worker: the grader's version and code."""
    return {"grader": __version__, "grader_source": source_fingerprint()}


def refusal(expected: dict, sandbox: str) -> str | None:
    """Why this machine must not grade for a coordinator running ``expected`` (else ``None``)."""
    mine = identity()
    if mine != expected:
        return (f"this worker runs grader {mine['grader']} (source {mine['grader_source']}), the "
                f"coordinator grader {expected.get('grader')} (source "
                f"{expected.get('grader_source')}): install the coordinator's version here")
    try:
        api.make_launcher(sandbox)  # --sandbox required: raises where this machine has none
    except GraderError as exc:
        return f"sandbox: {exc.message}"
    return None


REFUSED = re.compile(r"cnn-grader refuses worker (\S+): (.+)", re.S)


def refused(address: str, problem: str) -> str:
    """The error a refusing worker's plugin raises: the coordinator reads the refusal back from
    it (``REFUSED``), since the worker may have left before it can be asked again."""
    return f"cnn-grader refuses worker {address}: {problem}"


class GraderPlugin(WorkerPlugin):
    """Checks each worker once (version, sandbox) and gives it ``GRADING`` slots."""

    name = "cnn-grader"

    def __init__(self, expected: dict, sandbox: str) -> None:
        self.expected, self.sandbox = expected, sandbox

    async def setup(self, worker) -> None:
        problem = refusal(self.expected, self.sandbox)
        if problem is not None:
            logger.error("cnn-grader refuses this worker: %s", problem)
            # leave the cluster (its nanny too, or it would come back the same)
            asyncio.get_running_loop().call_later(
                0.5, lambda: asyncio.ensure_future(worker.close(nanny=True, reason="cnn-grader")))
            raise RuntimeError(refused(worker.address, problem))
        if GRADING not in worker.state.total_resources:
            await worker.set_resources(**{GRADING: default_slots(worker)})

    def teardown(self, worker) -> None:
        close_all()


def default_slots(worker) -> int:
    """One grading per ``SLOT_BYTES`` of the worker's memory, at most one per thread."""
    memory = worker.memory_manager.memory_limit or _machine_memory()
    return int(max(1, min(worker.state.nthreads, memory // SLOT_BYTES)))


def _machine_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


def threads_per_slot(worker) -> int:
    """TensorFlow threads per grading: the worker's threads (its cores) shared by its slots."""
    slots = worker.state.total_resources.get(GRADING) or 1
    return int(max(1, worker.state.nthreads // max(1, int(slots))))


class GraderPool:
    """The worker's graders, lent to whichever thread runs a task. Each holds a verification
    subprocess with TensorFlow, so there are never more than the worker's ``GRADING`` slots (the
    memory they were sized for), however many threads the worker has; a grader for another
    exercise or other settings replaces an idle one."""

    def __init__(self) -> None:
        self.idle: list[tuple[tuple, Any]] = []  # (key, grader) not in use, oldest first
        self.busy = 0
        self.lock = threading.Lock()

    def acquire(self, key: tuple, slots: int, build: Callable[[], Any],
                close: Callable[[Any], None]) -> Any:
        """An idle grader for ``key``, else a new one from ``build()`` (an idle one of another
        key is closed first when the slots are all taken)."""
        evicted = []
        with self.lock:
            for number, (found_key, grader) in enumerate(self.idle):
                if found_key == key:
                    del self.idle[number]
                    self.busy += 1
                    return grader
            while self.idle and len(self.idle) + self.busy >= slots:
                evicted.append(self.idle.pop(0)[1])
            self.busy += 1
        for grader in evicted:
            close(grader)
        try:
            return build()
        except BaseException:
            with self.lock:
                self.busy -= 1
            raise

    def release(self, key: tuple, grader: Any) -> None:
        with self.lock:
            self.busy -= 1
            self.idle.append((key, grader))

    def drain(self) -> list:
        """Every idle grader, taken out of the pool (to close them)."""
        with self.lock:
            graders = [grader for _, grader in self.idle]
            self.idle.clear()
        return graders


_pool = GraderPool()


def constant(value):
    """A value the coordinator hands to many tasks (the exercise, a layer of the memo)."""
    return value


# -- the task ------------------------------------------------------------------------------------

def grade_task(payload: dict, exercise: dict, memo: list[dict]) -> str:
    """Grade ``payload``'s notebook; a JSON string ``{"result": …, "memo": {key: training}}``.
    ``memo`` is the coordinator's trainings so far, in layers (``grader.batch.memo_layers``)."""
    if identity() != payload["grader"]:  # a refused worker still closing: not here
        raise Reschedule()
    _started(payload.get("key"))
    student = payload["student"]
    key, slots, build = _grader_for(exercise, payload["settings"])
    try:
        grader, spec = _pool.acquire(key, slots, build, lambda found: found[0].close())
    except GraderError as exc:
        result = fault_result(student, None, f"worker {_where()}: {exc.message}")
        return json.dumps({"result": result.to_dict(), "memo": {}})
    try:
        return _grade(payload, grader, spec, memo)
    finally:
        _pool.release(key, (grader, spec))


def _grade(payload: dict, grader: WorkerGrader, spec: Spec, memo: list[dict]) -> str:
    student = payload["student"]
    if sha256_bytes(payload["notebook"]) != payload["sha256"]:
        result = fault_result(student, spec, f"worker {_where()}: the notebook arrived damaged "
                                             "(sha256 differs from the coordinator's)")
        return json.dumps({"result": result.to_dict(), "memo": {}})
    verifier = _seed(grader, memo)
    before = set(verifier.memo) if verifier is not None else set()
    folder = Path(tempfile.mkdtemp(dir=_worker_tmpdir()))
    try:
        notebook = folder / Path(payload["name"]).name
        notebook.write_bytes(payload["notebook"])
        graded = grader.grade(student, notebook)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return json.dumps({"result": graded, "memo": _learned(verifier, before)})


def _grader_for(exercise: dict, settings: Settings) -> tuple[tuple, int, Callable]:
    """The pool's key for this exercise and these settings, the worker's slots, and how to
    build a grader for them."""
    worker = get_worker()
    settings = settings.with_(tf_threads=threads_per_slot(worker), data_path=None)
    slots = int(worker.state.total_resources.get(GRADING) or 1)

    def build() -> tuple[WorkerGrader, Spec]:
        folder = _exercise_folder(exercise)
        spec = Spec.load(folder)
        if spec.sha256 != exercise["sha256"]:
            raise GraderError("the exercise arrived damaged (its sha256 differs)")
        data_file = api.resolve_data(spec, None)  # this machine's own copy, sha256 verified
        return (WorkerGrader(WorkerConfig(Path(str(spec.path)), data_file, settings,
                                          _worker_tmpdir(), os.getpid())), spec)

    return (exercise["sha256"], settings), slots, build


def _exercise_folder(exercise: dict) -> Path:
    folder = Path(_worker_tmpdir()) / f"exercise-{exercise['sha256'][:16]}"
    folder.mkdir(exist_ok=True)
    for name, data in exercise["files"].items():
        if "/" in name or name.startswith("."):
            raise GraderError(f"the exercise has an unexpected file name {name!r}")
        (folder / name).write_bytes(data)
    return folder


def _seed(grader: WorkerGrader, memo: list[dict]):
    """Trainings other workers did, put in this grader's verifier before it grades."""
    if grader.grader is None:
        try:
            grader._setup()
        except Exception:  # grade() sets up again and turns the error into a result
            return None
    verifier = grader.grader.verifier if grader.grader else None
    if verifier is not None:
        for layer in memo:
            for key, training in layer.items():
                verifier.memo.setdefault(key, training)
    return verifier


def _learned(verifier, before: set) -> dict:
    if verifier is None:
        return {}
    return {k: v for k, v in verifier.memo.items() if k not in before and isinstance(v, dict)}


def _started(key) -> None:
    """Tell the coordinator that this task runs now (a lost event costs nothing but time)."""
    try:
        get_worker().log_event(START_TOPIC, str(key))
    except Exception:
        pass


def _where() -> str:
    try:
        return get_worker().address
    except ValueError:
        return "?"


def _worker_tmpdir() -> str:
    """One folder per worker process (``grader-dask-{pid}-…``, 0711: a sandboxed kernel reaches
    its run dir), the temp dir of everything the worker's gradings start, for the worker's
    life: its zygotes live there from one batch to the next. The worker cannot remove it (a
    Dask worker process ends without running ``atexit``), nor can one killed mid-task: the next
    worker on the machine does, once this one has ended (``grader.util.scratch``)."""
    with _lock:
        if not _tmpdir:
            _tmpdir.append(scratch_folder(SCRATCH_PREFIX))
            use_as_tempdir(_tmpdir[0])
            atexit.register(_at_exit)  # where the process runs it (a worker in-process)
        return _tmpdir[0]


def close_all() -> None:
    """Stop every grader's verifier (the batch is over; the worker serves on)."""
    for grader, _ in _pool.drain():
        grader.close()


def _at_exit() -> None:
    close_all()
    with _lock:
        folders = list(_tmpdir)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
