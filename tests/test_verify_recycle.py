"""A verification worker that holds much memory after a training is replaced before the next
training or grading (its own grading's cross-check still runs in it), and the next grading starts
its replacement beside the kernel, which may run long before the
worker is asked (fake workers: no TensorFlow)."""
from __future__ import annotations

import subprocess
import tempfile
import time

import pytest

from grader import pipeline
from grader.sandbox.launch import Launcher
from grader.settings import Settings
from grader.verify import process
from grader.verify import verifier as V
from grader.verify.memo import NoMemo

MiB = 1024**2


class FakeWorker:
    """Answers every job at once, reporting the memory ``rss``/``data`` say."""

    started: list[FakeWorker] = []
    rss, data = 0, 0

    def __init__(self, settings: Settings) -> None:
        self.closed = False
        FakeWorker.started.append(self)

    def alive(self) -> bool:
        return not self.closed

    def wait_ready(self, timeout: float) -> dict:
        return {"ready": True, "versions": {}, "threads": 0}

    def request(self, job: dict, timeout: float) -> dict:
        return {"ok": True, "training": {"val_accuracy": 0.9}, "crosscheck": {"matched": True},
                "rss_bytes": FakeWorker.rss, "data_bytes": FakeWorker.data}

    def close(self) -> None:
        self.closed = True

    def kill(self, wait: bool = True) -> None:
        self.close()


@pytest.fixture
def fake_workers(monkeypatch: pytest.MonkeyPatch) -> type[FakeWorker]:
    FakeWorker.started, FakeWorker.rss, FakeWorker.data = [], 0, 0
    monkeypatch.setattr(V, "WorkerProcess", FakeWorker)
    return FakeWorker


def trained(verifier: V.Verifier, n: int) -> None:
    for i in range(n):
        verifier.train({"layers": [i], "seed": 1})  # a new architecture each time: no memo hit


def test_a_worker_resident_past_the_limit_after_a_training_is_replaced(fake_workers):
    fake_workers.rss = V.RECYCLE_RSS + MiB
    with V.Verifier(Settings(), memo=NoMemo()) as verifier:
        trained(verifier, 3)
    assert len(fake_workers.started) == 3 and all(w.closed for w in fake_workers.started)


def test_a_worker_below_the_limit_is_kept_for_the_next_training(fake_workers):
    fake_workers.rss = V.RECYCLE_RSS - MiB
    with V.Verifier(Settings(), memo=NoMemo()) as verifier:
        trained(verifier, 3)
        assert len(fake_workers.started) == 1 and not fake_workers.started[0].closed


def test_the_cross_check_after_a_training_runs_in_that_worker_which_the_next_job_replaces(
        fake_workers):
    """An early training (``grader.verify.early``) comes before its grading's cross-check: the
    worker grown by it still cross-checks (it keeps the trained network for that), and is
    closed after it, not started again for a cross-check."""
    fake_workers.rss = V.RECYCLE_RSS + MiB
    with V.Verifier(Settings(), memo=NoMemo()) as verifier:
        trained(verifier, 1)
        assert len(fake_workers.started) == 1 and not fake_workers.started[0].closed
        assert verifier.crosscheck({"probe": {}}) == {"matched": True}
        assert len(fake_workers.started) == 1 and fake_workers.started[0].closed  # after it
        verifier.train({"layers": ["another"], "seed": 1})
        assert len(fake_workers.started) == 2 and fake_workers.started[0].closed


def test_a_cross_check_worker_near_its_data_limit_is_replaced(fake_workers):
    settings = Settings()
    fake_workers.data = int(V.RECYCLE_SHARE * settings.verify_memory_bytes) + MiB
    with V.Verifier(settings, memo=NoMemo()) as verifier:
        for _ in range(2):
            assert verifier.crosscheck({"probe": {}}) == {"matched": True}
    assert len(fake_workers.started) == 2 and fake_workers.started[0].closed


def test_each_grading_starts_the_replaced_worker_before_its_notebook_runs(fake_workers, spec,
                                                                          tmp_path):
    fake_workers.rss = V.RECYCLE_RSS + MiB
    verifier = V.Verifier(Settings(), memo=NoMemo())
    grader = pipeline.Grader(spec, tmp_path / "data", Settings(), Launcher(), verifier)
    trained(verifier, 1)  # due for replacement: its grading's cross-check may still come
    assert len(fake_workers.started) == 1 and not fake_workers.started[-1].closed
    broken = tmp_path / "broken.ipynb"  # names Keras: its worker starts as it would run
    broken.write_text("import keras, but not a notebook")
    result = grader.grade(broken)  # fails at once, after the worker started
    assert result.status.value == "error"
    assert len(fake_workers.started) == 2 and fake_workers.started[0].closed
    assert not fake_workers.started[-1].closed
    grader.close()
    assert fake_workers.started[-1].closed


def test_a_worker_that_said_ready_long_ago_is_read_not_killed_as_late(tmp_path):
    """A worker started beside a long notebook is asked only after it: its hello line waits in
    the pipe, past ``started + timeout``, and is an answer, not a timeout."""
    worker = process.WorkerProcess.__new__(process.WorkerProcess)
    worker.log, worker.workdir = tempfile.TemporaryFile(), tempfile.mkdtemp(dir=tmp_path)
    worker.proc = subprocess.Popen(["sh", "-c", 'echo \'{"ready": true, "pid": 1}\'; exec cat'],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   start_new_session=True)
    worker._buffer, worker.ready = b"", None
    try:
        time.sleep(0.3)  # the line is in the pipe now
        worker.started = time.monotonic() - 100  # started long before it is asked
        assert worker.wait_ready(60) == {"ready": True, "pid": 1}
        assert worker.alive()
    finally:
        worker.kill()


def test_a_worker_that_never_says_ready_still_times_out(tmp_path):
    worker = process.WorkerProcess.__new__(process.WorkerProcess)
    worker.log, worker.workdir = tempfile.TemporaryFile(), tempfile.mkdtemp(dir=tmp_path)
    worker.proc = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   start_new_session=True)
    worker._buffer, worker.ready, worker.started = b"", None, time.monotonic()
    with pytest.raises(process.WorkerTimeout):
        worker.wait_ready(0.5)
    assert not worker.alive()


def test_an_answer_to_another_job_is_never_taken_for_this_jobs(tmp_path):
    """Every job carries an id and its answer must carry it back: a worker out of step (here
    one that answers with an id of its own) is killed and said as a death."""
    worker = process.WorkerProcess.__new__(process.WorkerProcess)
    worker.log, worker.workdir = tempfile.TemporaryFile(), tempfile.mkdtemp(dir=tmp_path)
    worker.proc = subprocess.Popen(
        ["sh", "-c", 'echo \'{"ready": true}\'; read line; echo \'{"id": 99, "ok": true}\'; exec cat'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    worker._buffer, worker.ready, worker.started = b"", None, time.monotonic()
    try:
        assert worker.wait_ready(60)["ready"]
        with pytest.raises(process.WorkerDied, match="answered another job"):
            worker.request({"kind": "crosscheck"}, 60)
        worker.proc.wait(timeout=10)  # killed, not left to answer the next job
    finally:
        worker.kill()
