"""What a Dask worker and the coordinator keep between a batch's tasks, tested without a cluster:
the worker's graders (each a verification subprocess holding TensorFlow) never outnumber its
``GRADING`` slots, whichever of its threads runs a task.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from grader.settings import Settings

pytest.importorskip("distributed")


class FakeWorkerGrader:
    """Stands for ``WorkerGrader``: counts how many exist, grades nothing."""

    built: list[FakeWorkerGrader] = []

    def __init__(self, config) -> None:
        self.grader = SimpleNamespace(verifier=SimpleNamespace(memo={}))
        FakeWorkerGrader.built.append(self)

    def grade(self, student: str, notebook) -> dict:
        time.sleep(0.01)
        return {"submission": student}

    def close(self) -> None:
        pass


@pytest.fixture
def fake_worker(monkeypatch, tmp_path):
    """``grade_task`` on a worker with 16 threads and 2 ``GRADING`` slots; no kernel, no TF.
    Its folder is the test's own: the test process's temp dir stays where it was."""
    from grader.batch.cluster import dask_worker

    worker = SimpleNamespace(address="tcp://fake:1",
                             state=SimpleNamespace(nthreads=16, total_resources={"GRADING": 2}))
    spec = SimpleNamespace(sha256="exercise-sha", path="spec.json")
    monkeypatch.setattr(dask_worker, "get_worker", lambda: worker)
    monkeypatch.setattr(dask_worker, "_tmpdir", [str(tmp_path)])
    monkeypatch.setattr(dask_worker, "WorkerGrader", FakeWorkerGrader)
    monkeypatch.setattr(dask_worker.Spec, "load", staticmethod(lambda folder: spec))
    monkeypatch.setattr(dask_worker.api, "resolve_data", lambda spec, path: "data")
    FakeWorkerGrader.built = []
    yield dask_worker
    dask_worker.close_all()


def payload(dask_worker, student: str) -> dict:
    from grader.util.files import sha256_bytes

    return {"student": student, "name": f"{student}.ipynb", "notebook": b"{}",
            "sha256": sha256_bytes(b"{}"), "grader": dask_worker.identity(),
            "settings": Settings()}


def test_a_worker_with_more_threads_than_slots_holds_no_more_graders_than_slots(fake_worker):
    exercise = {"files": {}, "sha256": "exercise-sha"}
    slots = threading.Semaphore(2)  # what the scheduler's GRADING=2 allows at once
    threads: set[int] = set()

    def task(number: int) -> None:
        with slots:
            threads.add(threading.get_ident())
            fake_worker.grade_task(payload(fake_worker, f"s{number}"), exercise, [])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(task, range(48)))
    assert len(threads) > 2  # the tasks did run on many of the worker's threads
    assert 1 <= len(FakeWorkerGrader.built) <= 2


def test_the_memo_reaches_tasks_in_few_layers_and_each_training_travels_few_times():
    from grader.batch.memo_layers import MemoLayers

    sent: list[dict] = []
    layers = MemoLayers(lambda entries: sent.append(dict(entries)) or len(sent) - 1)
    trainings = 200
    for number in range(trainings):  # the memo grows by one training at a time
        layers.add({f"arch{number}": {"val_accuracy": number / trainings}})
        seen = {}
        for handle in layers.handles():  # what a task submitted now is handed
            seen.update(sent[handle])
        assert sorted(seen) == sorted(f"arch{n}" for n in range(number + 1))
        assert len(layers.handles()) <= 8  # log2(200) + 1: a task depends on few futures
    times_sent = {key: sum(key in entries for entries in sent) for key in seen}
    assert max(times_sent.values()) <= 14  # log1.5(200) + 1 (full snapshots: up to 200 times)
    assert sum(times_sent.values()) < trainings * (trainings + 1) / 2 / 5
    before = len(sent)
    layers.add({"arch0": {"val_accuracy": 1.0}})  # known already: nothing new is sent
    assert len(sent) == before


class FakeFuture:
    def __init__(self, key: str) -> None:
        self.key, self.cancelled = key, False

    def cancel(self) -> None:
        self.cancelled = True


def test_a_task_queued_for_a_slot_gets_its_full_time_once_it_starts_on_a_worker(
        spec, monkeypatch):
    from grader.batch.cluster import dask_executor
    from grader.batch.executor import Task

    reported: dict[str, dict] = {}
    settings = Settings(cluster="tcp://127.0.0.1:1")
    executor = dask_executor.DaskExecutor(
        1, spec, spec.path, settings, lambda task, result: reported.update({task.student: result}))
    limit = executor.deadline
    clock = [1000.0]
    monkeypatch.setattr(dask_executor.time, "monotonic", lambda: clock[0])
    queued, stuck = FakeFuture("grade-x-2"), FakeFuture("grade-x-1")
    executor.inflight = {stuck: (Task("stuck", spec.path), 1000.0),
                         queued: (Task("queued", spec.path), 1000.0)}
    clock[0] = 1000.0 + limit - 10
    executor.on_start("grade-x-2")  # "stuck" holds no slot; "queued" waited, now runs
    clock[0] = 1000.0 + limit + 10  # past the limit counted from submission, not from the start
    executor._expire(executor.inflight)
    assert "queued" not in reported and queued in executor.inflight and not queued.cancelled
    assert "stuck" not in reported  # the cluster moved on (a task started) within the limit
    clock[0] = 1000.0 + 2 * limit - 5  # "queued" is past its limit counted from its start
    executor._expire(executor.inflight)
    assert reported["queued"]["error"]["kind"] and queued.cancelled
    assert reported["stuck"]["exit_code"] == 5  # nothing started or ended for the whole limit


def test_a_cluster_batch_names_the_cluster_in_its_progress_and_summary_lines_not_local_threads(
        spec, tmp_path):
    import io

    from grader.batch.cluster import dask_executor
    from grader.batch.folder import summary_line
    from grader.render.progress import Progress
    from grader.result import Result, Status

    address = "tcp://10.0.0.7:8786"
    executor = dask_executor.DaskExecutor(4, spec, spec.path, Settings(cluster=address),
                                          lambda task, result: None)
    assert executor.name == f"cluster {address}"
    log = io.StringIO()
    Progress(total=3, to_grade=3, stream=log, tty=False).begin([], 4, 8, executor.name)
    assert log.getvalue() == f"grader: 3 submissions, grading 3 on cluster {address} " \
                             "(4 at once)\n"
    results = [Result("ann", Status.PASSED, 15, 15)]
    line = summary_line(results, 1, 0, 70.0, 4, tmp_path, executor.name)
    assert f"; graded 1 in 1m10s on cluster {address} (4 at once);" in line
    assert "TensorFlow" not in log.getvalue() + line and "worker" not in line


def test_a_grader_for_another_exercise_replaces_an_idle_one_rather_than_adding_a_verifier():
    from grader.batch.cluster.dask_worker import GraderPool

    pool, closed = GraderPool(), []
    first = pool.acquire(("cnn2", "settings"), 1, lambda: "cnn2 grader", closed.append)
    pool.release(("cnn2", "settings"), first)
    assert pool.acquire(("cnn2", "settings"), 1, lambda: "another", closed.append) == first
    pool.release(("cnn2", "settings"), first)
    other = pool.acquire(("cnn3", "settings"), 1, lambda: "cnn3 grader", closed.append)
    assert other == "cnn3 grader" and closed == ["cnn2 grader"]
    pool.release(("cnn3", "settings"), other)
    assert pool.drain() == ["cnn3 grader"] and pool.drain() == []
