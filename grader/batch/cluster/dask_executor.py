"""The cluster executor: a batch's submissions graded on an existing Dask cluster.

``grader grade FOLDER --cluster tcp://HOST:8786`` (or ``GRADER_CLUSTER``) keeps everything the
coordinator does for a local batch (discovery, reuse, atomic per-student results, progress,
gradebook, Ctrl-C, exit codes) and only replaces the worker pool (``Executor``). Each task is
one submission (``grader.batch.cluster.dask_worker.grade_task``); at most ``size`` are in the cluster
at once, so that later tasks carry the trainings earlier ones returned (the verification memo is
shared across the cluster: an architecture is trained once per batch, not once per worker).

Nothing lost, nothing doubled: Dask re-runs the task of a worker that died elsewhere (up to the
scheduler's ``allowed-failures``), and each task reports exactly once. A lost scheduler stops
the batch with a ``GraderError`` (exit 5) after ``cluster_timeout``: the results saved so far are
kept and a re-run grades the rest. Every call to the cluster has an explicit time limit.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import options
from grader.batch.cluster.calls import bounded, connect_timeout, wait_gone
from grader.batch.executor import Executor, Task, register
from grader.batch.local.workers import fault_result, task_deadline
from grader.batch.memo_layers import MemoLayers
from grader.exceptions import GraderError, UsageError
from grader.exercise.spec import Spec
from grader.options import GRADE, Option
from grader.settings import Settings

if TYPE_CHECKING:  # the optional [cluster] extra: imported when a batch connects
    from distributed import Client

#: the exercise files a worker needs (the spec and what names the exercise); each ≤ 1 MB
EXERCISE_GLOB = "*.json"
EXERCISE_FILE_LIMIT = 1024**2
POLL_SECONDS = 0.2
#: refused workers already named in this process (sizing and the batch both admit)
_named: set[str] = set()


options.declare(Option(
    "--cluster", "grade on this Dask scheduler's workers (default: $GRADER_CLUSTER; none: this "
    "machine)", (GRADE,), setting="cluster", env="GRADER_CLUSTER", metavar="tcp://HOST:PORT"))


@register
class DaskExecutor(Executor):
    """Grades on the Dask cluster at ``settings.cluster`` (module docstring)."""

    grades_here = False

    @classmethod
    def wanted(cls, settings: Settings) -> bool:
        return bool(settings.cluster)

    @classmethod
    def default_size(cls, settings: Settings, pending: int) -> int | None:
        return cluster_size(settings)

    @classmethod
    def announce(cls, settings: Settings) -> str | None:
        return (f"cluster {settings.cluster}: each worker grades in the strongest sandbox its "
                f"machine offers (--sandbox {settings.sandbox})")

    def __init__(self, size: int, spec: Spec, data_file: Path, settings: Settings,
                 on_result: Callable[[Task, dict], None],
                 on_tick: Callable[[], None] = lambda: None) -> None:
        super().__init__(size, spec, data_file, settings, on_result, on_tick)
        self.memo: MemoLayers | None = None  # the trainings tasks returned (made in _grade)
        self.inflight: dict = {}  # future -> (task, when it was submitted)
        self.started: dict[str, float] = {}  # task key -> when a worker last started it
        self.progress = 0.0  # when a task last started or ended on the cluster
        self.reported = 0
        self.deadline = task_deadline(settings) + settings.cluster_timeout

    @property
    def name(self) -> str:  # type: ignore[override]
        """Where the batch is graded, as the progress and summary lines show it."""
        return f"cluster {self.settings.cluster}"

    def run(self, tasks: list[Task]) -> None:
        client = connect(self.settings)
        try:
            admit(client, self.settings)
            self._grade(client, deque(tasks))
        except BaseException as exc:  # Ctrl-C included: nothing of this batch stays queued
            _close(client, self.settings.cluster_timeout, cancel=list(self.inflight))
            if isinstance(exc, Exception) and not isinstance(exc, GraderError):
                raise self._lost(f"{type(exc).__name__}: {exc}") from None  # one line, kept
            raise
        _close(client, self.settings.cluster_timeout)

    def _grade(self, client: Client, pending: deque[Task]) -> None:
        from grader.batch.cluster.dask_worker import GRADING, START_TOPIC, grade_task

        client.subscribe_topic(START_TOPIC, lambda event: self.on_start(event[1]))
        exercise = send(client, exercise_files(self.spec))
        self.memo = MemoLayers(lambda entries: send(client, entries))
        inflight = self.inflight
        batch, number = uuid.uuid4().hex[:8], 0
        lost_since: float | None = None
        while pending or inflight:
            while pending and len(inflight) < self.size:
                task, number = pending.popleft(), number + 1
                key = f"grade-{batch}-{number}"
                future = client.submit(grade_task, self._payload(task, key), exercise,
                                       self.memo.handles(), key=key, resources={GRADING: 1},
                                       pure=False, retries=0)
                inflight[future] = (task, time.monotonic())
                self.progress = self.progress or time.monotonic()
            for future in [f for f in inflight if f.done()]:
                task, _ = inflight.pop(future)
                self.progress = time.monotonic()
                self.started.pop(future.key, None)
                self._report(task, self._outcome(client, future, task))
            self._expire(inflight)
            lost_since = self._connected(client, lost_since)
            self.on_tick()
            time.sleep(POLL_SECONDS)

    def on_start(self, key: str) -> None:
        """A worker started the task ``key`` (its ``START_TOPIC`` event; in the client's thread):
        its deadline counts from now, not from its submission (queue time is not its own)."""
        self.started[str(key)] = self.progress = time.monotonic()

    def _payload(self, task: Task, key: str) -> dict:
        from grader.batch.cluster.dask_worker import identity
        from grader.util.files import sha256_bytes

        data = Path(task.notebook).read_bytes()
        return {"key": key, "student": task.student, "name": Path(task.notebook).name,
                "notebook": data,
                "sha256": sha256_bytes(data), "grader": identity(),
                "settings": self.settings.with_(data_path=None, cluster=None)}

    def _outcome(self, client: Client, future: Any, task: Task) -> dict:
        """The task's result dict; a grader fault where the cluster could not grade it."""
        if future.status == "cancelled" and client.status != "running":
            raise self._lost("the Dask scheduler cancelled the batch's tasks")
        try:
            data = json.loads(future.result(timeout=self.settings.cluster_timeout))
            self._learn(data.get("memo"))
            return data["result"]
        except GraderError:
            raise
        except Exception as exc:  # KilledWorker (its workers kept dying), a worker error
            return fault_result(task.student, self.spec, "the cluster could not grade this "
                                f"submission: {type(exc).__name__}: {exc}").to_dict()

    def _learn(self, memo: object) -> None:
        """Keep the trainings a task returned (plain JSON from the grader's own verifier)."""
        if isinstance(memo, dict) and self.memo is not None:
            self.memo.add({key: training for key, training in memo.items()
                           if isinstance(key, str) and isinstance(training, dict)
                           and "val_accuracy" in training})

    def _report(self, task: Task, result: dict) -> None:
        if isinstance(result.get("spec"), dict) and "path" in result["spec"]:
            result["spec"]["path"] = self.spec.path  # the worker's copy was a temporary folder
        self.reported += 1
        self.on_result(task, result)

    def _expire(self, inflight: dict) -> None:
        """A task far past every limit of its submission gets a grader fault (a re-run retries)."""
        now = time.monotonic()
        for future, (task, since) in list(inflight.items()):
            if overdue(now, since, self.started.get(future.key), self.progress, self.deadline):
                inflight.pop(future)
                future.cancel()
                self._report(task, fault_result(task.student, self.spec, "the cluster returned no "
                             f"result within {self.deadline:g} s, past every limit of this "
                             "submission").to_dict())

    def _connected(self, client: Client, lost_since: float | None) -> float | None:
        if client.status == "running":
            return None
        lost_since = lost_since or time.monotonic()
        if time.monotonic() - lost_since > self.settings.cluster_timeout:
            raise self._lost(f"no answer from the Dask scheduler for "
                             f"{self.settings.cluster_timeout:g} s")
        return lost_since

    def _lost(self, why: str) -> GraderError:
        return GraderError(f"lost the cluster at {self.settings.cluster} ({why}); the "
                           f"{self.reported} results graded so far are saved: run the same "
                           "command again to grade the rest")


def overdue(now: float, submitted: float, started: float | None, progress: float,
            deadline: float) -> bool:
    """A task is overdue ``deadline`` s after a worker started it; one still waiting for a slot
    only when the cluster made no progress (no task started or ended) for that long, as when
    every worker with a ``GRADING`` slot is gone or hung."""
    if started is not None:
        return now - started > deadline
    return now - max(submitted, progress) > deadline


# -- talking to the cluster ------------------------------------------------------------------------

def connect(settings: Settings) -> Client:
    """A client of the scheduler at ``settings.cluster``, or a clear error within the limit."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'cnn-grader[cluster]' (on the "
                         "coordinator and on every worker machine)") from None
    check_address(settings.cluster)
    seconds = settings.cluster_timeout  # the client's own limit; the rest go through bounded()
    try:
        return Client(settings.cluster, timeout=seconds, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {settings.cluster} within "
                         f"{seconds:g} s ({exc}); start it with `dask scheduler`, or check "
                         "--cluster / GRADER_CLUSTER") from None


def check_address(address: str | None) -> None:
    """Refuse a malformed address before a ``Client`` exists: a half-built one closes itself at
    exit with Dask's own 60 s timeout and a traceback (UCX addresses are left to Dask)."""
    from distributed.comm import get_address_host_port, parse_address

    try:
        if parse_address(str(address))[0] != "ucx":
            get_address_host_port(str(address))
    except ValueError as exc:
        raise UsageError(f"--cluster {address!r} is not a Dask scheduler address ({exc}): give "
                         "tcp://HOST:PORT (or set GRADER_CLUSTER)") from None


def admit(client: Client, settings: Settings) -> list[str]:
    """Register the worker check on every worker; report those refused; the admitted ones."""
    from grader.batch.cluster.dask_worker import GRADING, REFUSED, GraderPlugin, identity, refusal

    seconds = settings.cluster_timeout
    # a broadcast that meets a worker as it closes (one refused just before, a killed one) waits
    # for Dask's connect timeout before it answers with that worker's error
    broadcast = seconds + connect_timeout()
    problems: dict[str, str] = {}
    try:
        bounded(lambda: client.register_plugin(GraderPlugin(identity(), settings.sandbox)),
                broadcast, "checking the workers")
    except GraderError:
        raise
    except Exception as exc:  # a refused worker (it leaves at once): named below, others grade
        if found := REFUSED.fullmatch(str(exc)):
            problems[found[1]] = found[2]
            wait_gone(client, set(problems), seconds)
    answers = bounded(lambda: client.run(refusal, identity(), settings.sandbox, on_error="return"),
                      broadcast, "asking the workers")
    problems.update((address, problem) for address, problem in answers.items()
                    if problem is not None)
    good = [address for address in answers if address not in problems]
    for address, problem in sorted(problems.items()):
        if address not in _named:
            _named.add(address)
            print(f"grader: worker {address} refused: {problem}", flush=True)
    slots = grading_slots(client, good, seconds)
    if not slots:
        raise UsageError(f"no worker of the cluster at {settings.cluster} can grade ("
                         f"{len(answers.keys() | problems.keys())} worker(s), {len(problems)} "
                         f"refused, none with a {GRADING} resource); see the lines above and the "
                         "workers' logs")
    return good


def grading_slots(client: Client, workers: list[str], seconds: float) -> int:
    """The ``GRADING`` slots of ``workers`` (what the plugin gave or the worker declared)."""
    from grader.batch.cluster.dask_worker import GRADING

    info = bounded(client.scheduler_info, seconds, "asking the scheduler")
    return int(sum(w.get("resources", {}).get(GRADING, 0)
                   for address, w in info.get("workers", {}).items() if address in workers))


def cluster_size(settings: Settings) -> int:
    """The cluster's ``GRADING`` slots now: the default number of gradings at once."""
    client = connect(settings)
    try:
        return max(1, grading_slots(client, list(admit(client, settings)),
                                    settings.cluster_timeout))
    finally:
        _close(client, settings.cluster_timeout)


def exercise_files(spec: Spec) -> dict:
    """The reference folder's JSON files as bytes, with the spec's sha256 to check them by."""
    folder = Path(str(spec.path)).parent
    files = {p.name: p.read_bytes() for p in sorted(folder.glob(EXERCISE_GLOB))
             if p.is_file() and p.stat().st_size <= EXERCISE_FILE_LIMIT}
    return {"files": files, "sha256": spec.sha256}


def send(client: Client, value: object) -> Any:
    """``value`` as a future that tasks share: moved once per worker, and made again by the
    scheduler if the worker holding it leaves (scattered data would be lost with it)."""
    from grader.batch.cluster.dask_worker import constant

    return client.submit(constant, value, pure=False, key=f"grader-data-{uuid.uuid4().hex}")


def _close(client: Client, seconds: float, cancel: list | None = None) -> None:
    """Cancel what is left, take the worker check off (its teardown stops the workers'
    verifiers, and a worker that joins later is not judged by this batch's grader version)."""
    from grader.batch.cluster.dask_worker import GraderPlugin

    steps = [lambda: client.unregister_worker_plugin(GraderPlugin.name),
             lambda: client.close(timeout=seconds)]
    if cancel:
        steps.insert(0, lambda: client.cancel(cancel, force=True))
    if client.status != "running":  # the scheduler is gone: only the client's own clean-up
        steps = steps[-1:]
    for step in steps:
        try:
            bounded(step, seconds + 1, "closing")
        except Exception:  # the scheduler may be gone already; nothing of ours is left there
            pass
