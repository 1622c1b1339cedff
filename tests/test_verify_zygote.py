"""Verification workers forked from their zygote (``grader.verify.zygote``): a forked worker
trains to the same numbers as a worker started as a child, runs in the same folder, session and
limits, a zygote that cannot start leaves workers to start as children, and neither the zygote
nor a worker outlives the grader."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import layers as L
from grader.sandbox import zygotes
from grader.settings import Settings
from grader.verify import process
from grader.verify.verifier import make_job

pytestmark = pytest.mark.slow

#: small, but with what makes training numbers fragile: convolution, BatchNormalization, dropout
SMALL = [L.Layer("Conv2D", {"filters": 8, "kernel_size": [3, 3], "strides": [1, 1],
                            "padding": "same", "dilation_rate": [1, 1], "use_bias": True,
                            "activation": "linear"}),
         L.Layer("BatchNormalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001}),
         L.Layer("Activation", {"activation": "relu"}),
         L.Layer("MaxPooling2D", {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}),
         L.Layer("Flatten", {}),
         L.Layer("Dropout", {"rate": 0.3}),
         L.Layer("Dense", {"units": 10, "use_bias": True, "activation": "softmax"})]
#: what differs between two runs of the same training: time and memory
UNSTABLE = ("seconds", "build_seconds", "peak_rss_bytes")


@pytest.fixture
def fresh_zygotes():
    zygotes.close_all()
    zygotes._failed.clear()
    yield
    zygotes.close_all()
    zygotes._failed.clear()


def _seen(worker: process.WorkerProcess) -> dict:
    """What the grader can see of a worker from outside: its folder, session and limits."""
    pid = worker.proc.pid
    with open(f"/proc/{pid}/limits") as f:
        data = next(line for line in f if line.startswith("Max data size")).split()[3]
    return {"cwd": os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(worker.workdir),
            "session_leader": os.getsid(pid) == pid, "group": os.getpgid(pid) == pid,
            "data_limit": data}


def _train(fork: bool, job: dict, settings: Settings) -> tuple[dict, dict, dict]:
    worker = process.WorkerProcess(settings, fork=fork)
    try:
        hello = worker.wait_ready(300)
        assert worker.forked is fork
        seen = _seen(worker)
        reply = worker.request(job, 300)
    finally:
        worker.close()
    assert reply["ok"], reply
    training = reply["training"]
    for key in UNSTABLE:
        training.pop(key)
    hello.pop("pid")
    return hello, seen, training


def test_a_forked_worker_trains_to_the_numbers_of_a_worker_started_as_a_child(spec, data_file):
    settings = Settings(sandbox="off", data_path=data_file,
                        verify_memory_bytes=6 * 1024**3)
    job = make_job(SMALL, tuple(spec.input_shape), spec, data_file, settings)
    child = _train(False, job, settings)
    forked = [_train(True, job, settings) for _ in range(2)]  # a fresh one, then a later one
    assert forked[0] == forked[1] == child
    hello, seen, training = child
    assert seen == {"cwd": True, "session_leader": True, "group": True,
                    "data_limit": str(6 * 1024**3)}
    assert hello["ready"] and 0 < training["val_accuracy"] <= 1


def test_a_zygote_that_cannot_start_leaves_workers_to_start_as_children(
        fresh_zygotes, monkeypatch, data_file):
    monkeypatch.setattr(process, "ZYGOTE", (sys.executable, "-c", "raise SystemExit(3)"))
    for _ in range(2):
        worker = process.WorkerProcess(Settings(data_path=data_file))
        try:
            assert worker.wait_ready(300)["ready"] and not worker.forked
        finally:
            worker.close()
    assert len(zygotes._failed) == 1 and not zygotes._zygotes  # not tried for every worker


def test_a_forked_worker_that_is_killed_is_reported_dead_by_its_signal(fresh_zygotes, data_file):
    worker = process.WorkerProcess(Settings(data_path=data_file))
    try:
        assert worker.forked
        os.kill(worker.proc.pid, signal.SIGKILL)
        with pytest.raises(process.WorkerDied) as died:
            worker.wait_ready(300)
    finally:
        worker.close()
    assert died.value.signal == signal.SIGKILL and "SIGKILL" in str(died.value)
    (found,) = zygotes._zygotes.values()
    assert found.process is not None and found.process.poll() is None  # it serves on


START = """\
import sys
from grader.sandbox import zygotes
from grader.settings import Settings
from grader.verify.process import WorkerProcess
worker = WorkerProcess(Settings())
worker.wait_ready(300)
assert worker.forked
(z,) = zygotes._zygotes.values()
print(z.process.pid, z.folder, worker.proc.pid, flush=True)
if sys.argv[1] == 'killed':
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_neither_the_workers_zygote_nor_a_worker_outlives_the_grader(tmp_path, ending):
    done = subprocess.run([sys.executable, "-c", START, ending], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    pid, folder, worker = (int(done.stdout.split()[0]), done.stdout.split()[1],
                           int(done.stdout.split()[2]))
    deadline = time.monotonic() + 30
    while (_alive(worker) or _alive(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"the zygote {pid} outlived a grader that {ending}"
    assert not _alive(worker), f"the worker {worker} outlived a grader that {ending}"
    assert not Path(folder).exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
