"""Verification workers forked from their zygote (``grader.verify.zygote``): a forked worker
trains to the same numbers as a worker started as a child, runs in the same folder, session and
limits, a zygote that cannot start leaves workers to start as children, and neither the zygote
nor a worker outlives the grader."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import layers as L
from grader.sandbox import zygote, zygotes
from grader.settings import Settings
from grader.util.scratch import remove_stale
from grader.verify import process
from grader.verify.process import FOLDER_PREFIX
from grader.verify.verifier import make_job

from tests.conftest import SINCE, still_running

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


def _seen(worker: process.WorkerProcess) -> dict:
    """What the grader can see of a worker from outside: its folder, session and limits."""
    pid = worker.proc.pid
    with open(f"/proc/{pid}/limits") as f:
        data = next(line for line in f if line.startswith("Max data size")).split()[3]
    return {"cwd": os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(worker.workdir),
            "session_leader": os.getsid(pid) == pid, "group": os.getpgid(pid) == pid,
            "data_limit": data}


def _ready(settings: Settings) -> None:
    """The workers' zygote of ``settings``, started and ready (a process's first worker would
    otherwise start as a child: ``zygotes.ready_now``)."""
    assert zygotes.zygote_for(process.worker_env(settings), process.ZYGOTE) is not None


def _train(fork: bool, job: dict, settings: Settings) -> tuple[dict, dict, dict]:
    if fork:
        _ready(settings)
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


def test_a_forked_worker_trains_to_the_numbers_of_a_worker_started_as_a_child(
        fresh_zygotes, spec, data_file, tmp_path, monkeypatch):
    """With the thread settings a batch uses, and the user's own Keras configuration (an
    epsilon that changes the loss): both read by a forked worker as by a fresh one."""
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps(
        {"floatx": "float32", "epsilon": 1e-3, "backend": "tensorflow",
         "image_data_format": "channels_last"}))
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings(sandbox="off", data_path=data_file, tf_threads=2,
                        verify_memory_bytes=6 * 1024**3)
    job = make_job(SMALL, tuple(spec.input_shape), spec, data_file, settings)
    child = _train(False, job, settings)
    forked = [_train(True, job, settings) for _ in range(2)]  # a fresh one, then a later one
    assert forked[0] == forked[1] == child
    hello, seen, training = child
    assert seen == {"cwd": True, "session_leader": True, "group": True,
                    "data_limit": str(6 * 1024**3)}
    assert hello["ready"] and hello["threads"] == 2 and 0 < training["val_accuracy"] <= 1


def test_a_zygote_that_cannot_start_leaves_workers_to_start_as_children(
        fresh_zygotes, monkeypatch, data_file):
    monkeypatch.setattr(process, "ZYGOTE", (sys.executable, "-c", "raise SystemExit(3)"))
    settings = Settings(data_path=data_file)
    assert zygotes.zygote_for(process.worker_env(settings), process.ZYGOTE) is None
    for _ in range(3):
        worker = process.WorkerProcess(settings)
        try:
            assert worker.wait_ready(300)["ready"] and not worker.forked
        finally:
            worker.close()
    assert len(zygotes._failed) == 1 and not zygotes._zygotes  # not tried for every worker


def test_a_processs_first_worker_starts_at_once_as_a_child_and_later_ones_are_forked(
        fresh_zygotes, data_file):
    """A first worker starts beside the notebook's run without waiting for a zygote (a
    one-notebook check pays none); the second starts the zygote in the background; once it is
    ready, workers are forked."""
    settings = Settings(data_path=data_file)
    kinds = []
    for _ in range(2):
        worker = process.WorkerProcess(settings)
        kinds.append(worker.forked)
        registered = list(zygotes._zygotes.values())
        worker.close()
    assert kinds == [False, False] and len(registered) == 1  # starting, after the second
    _ready(settings)
    worker = process.WorkerProcess(settings)
    try:
        assert worker.forked and worker.wait_ready(300)["ready"]
    finally:
        worker.close()


def test_a_forked_worker_that_is_killed_is_reported_dead_by_its_signal(fresh_zygotes, data_file):
    _ready(Settings(data_path=data_file))
    worker = process.WorkerProcess(Settings(data_path=data_file))
    try:
        assert worker.forked
        os.kill(worker.proc.pid, signal.SIGKILL)
        with pytest.raises(process.WorkerDied) as died:
            # on a busy machine the ready line may be written before the kill lands: it is read
            # first, and the death is then the answer to the next job
            worker.wait_ready(300)
            worker.request({"kind": "crosscheck"}, 300)
    finally:
        worker.close()
    assert died.value.signal == signal.SIGKILL and "SIGKILL" in str(died.value)
    (found,) = zygotes._zygotes.values()
    assert found.process is not None and found.process.poll() is None  # it serves on


def test_a_worker_killed_while_idle_is_reported_dead_at_its_next_job(fresh_zygotes, data_file):
    _ready(Settings(data_path=data_file))
    worker = process.WorkerProcess(Settings(data_path=data_file))
    try:
        assert worker.wait_ready(300)["ready"]
        os.kill(worker.proc.pid, signal.SIGKILL)
        while worker.alive():  # its pipe's reader is gone: the job's line cannot be written
            time.sleep(0.05)
        with pytest.raises(process.WorkerDied) as died:
            worker.request({"kind": "crosscheck"}, 300)
    finally:
        worker.close()
    assert died.value.signal == signal.SIGKILL


START = SINCE + """
import sys
from grader.sandbox import zygotes
from grader.settings import Settings
from grader.verify.process import ZYGOTE, WorkerProcess, worker_env
assert zygotes.zygote_for(worker_env(Settings()), ZYGOTE) is not None
worker = WorkerProcess(Settings())
worker.wait_ready(300)
assert worker.forked
(z,) = zygotes._zygotes.values()
print(z.process.pid, z.folder, worker.proc.pid, since(z.process.pid), since(worker.proc.pid),
      worker.workdir, flush=True)
if sys.argv[1] == 'killed':
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_neither_the_workers_zygote_nor_a_worker_outlives_the_grader(tmp_path, ending):
    done = subprocess.run([sys.executable, "-c", START, ending], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    pid, folder, worker, pid_since, worker_since, workdir = done.stdout.split()
    deadline = time.monotonic() + 30
    while (still_running(int(worker), worker_since) or still_running(int(pid), pid_since)) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert not still_running(int(pid), pid_since), f"the zygote {pid} outlived a grader that {ending}"
    assert not still_running(int(worker), worker_since), \
        f"the worker {worker} outlived a grader that {ending}"
    assert not Path(folder).exists()
    # the worker's working folder: removed at exit, or by the next grader after a kill
    assert Path(workdir).exists() == (ending == "killed")
    remove_stale(FOLDER_PREFIX)
    assert not Path(workdir).exists()


def test_a_worker_closed_as_soon_as_it_is_forked_is_gone_and_close_returns(fresh_zygotes,
                                                                          data_file):
    """Killed through its supervisor, even before it has a session of its own."""
    settings = Settings(data_path=data_file)
    _ready(settings)
    for _ in range(3):
        worker = process.WorkerProcess(settings)
        assert worker.forked
        pid = worker.proc.pid
        worker.close()
        assert worker.proc.returncode is not None and not zygote.running(pid)


@pytest.mark.parametrize("sandbox", ["off", "auto"])
def test_a_batch_starts_the_workers_zygote_ahead_only_for_two_submissions_or_more(sandbox):
    """One submission's grading starts one verification worker: a zygote would cost as much
    as that worker's own start. The kernels' zygote (``--sandbox off``, or a level whose
    kernels enter their sandbox forked) is wanted for any one: a batch worker would otherwise
    start its own. Counted are the submissions that name Keras
    or TensorFlow: the others start neither from a zygote."""
    from grader.batch.local.worker_process import zygotes_wanted
    from grader.sandbox.launcher import join_env

    settings = Settings(sandbox=sandbox)
    for tasks in (0, 1, 2, 16):
        commands = [command for _, command in zygotes_wanted(settings, tasks)]
        assert (process.ZYGOTE in commands) == (tasks >= 2)
        # sandboxed: where this machine's level lets a forked kernel enter its sandbox
        kernels = sandbox == "off" or join_env(settings) is not None
        assert (None in commands) == (kernels and tasks >= 1)
