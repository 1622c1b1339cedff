"""Grading on a Dask cluster (``grade --cluster``): the same results as a local run, one result per
student when a worker dies, a worker with other grader code refused, architectures trained once.

The tests share one ``distributed.LocalCluster`` of worker *processes* on loopback (2 workers, one
``GRADING`` slot each), as an instructor's cluster serves batch after batch, and run the real CLI
against it; every Dask wait has an explicit limit. Tests that kill a worker leave the cluster's
nannies to start another: the next test begins once exactly two workers answer.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.util.scratch import remove_stale

from tests.conftest import ROOT
from tests.notebooks import MISTAKES, SOLUTION, code_notebook, model_only_notebook, write
from tests.reports import without_volatile_crosscheck

distributed = pytest.importorskip("distributed")

LIMIT = 120  # seconds: every wait on the cluster in these tests (generous: steady under load)


@pytest.fixture(scope="module")
def shared_cluster():
    """Two worker processes with one grading slot each, and a client to watch them, for the
    module: each start is a scheduler, two nannies and two workers importing Dask and the
    grader, and the workers keep their zygotes from one batch to the next (this module took
    130.4 and 142.9 CPU-s with a cluster per test, 125.9 and 123.3 with this one, 2026-12-07)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  resources={"GRADING": 1}, dashboard_address=None,
                                  scheduler_port=0, host="127.0.0.1",
                                  timeout=LIMIT) as local, \
            distributed.Client(local, timeout=LIMIT, set_as_default=False) as client:
        yield local.scheduler_address, client
    remove_stale("grader-dask-")  # the workers' folders, as the next worker would


@pytest.fixture
def cluster(shared_cluster):
    """The module's cluster once exactly two workers answer: a worker an earlier test killed
    has been replaced by its nanny (and a dead one is no longer listed), an extra one has left."""
    address, client = shared_cluster
    deadline, answered = time.monotonic() + LIMIT, None
    while True:
        try:
            answered = client.run(os.getpid)
            if len(answered) == 2:
                return address, client
        except Exception as exc:  # a listed worker that is gone (the scheduler drops it soon)
            answered = exc
        assert time.monotonic() < deadline, f"not two live workers after {LIMIT} s: {answered!r}"
        time.sleep(0.2)


def course(folder: Path, notebooks: dict) -> Path:
    for name, nb in notebooks.items():
        write(nb, folder / f"{name}.ipynb")
    return folder


def grade(folder: Path, out: Path, data_file: Path, *extra: str, verify: bool = False,
          wait: bool = True, sandbox: str = "off"):
    cmd = [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--sandbox",
           sandbox, "--data", str(data_file), "--timeout", "30", *extra]
    cmd += [] if verify else ["--no-verify"]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def results(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "students").glob("*.json")}


def comparable(result: dict) -> dict:
    """A result without what measures the host (durations, memory peaks, a kernel's stderr, the
    random temporary path of a dead kernel's connection file)."""
    result = without_volatile_crosscheck({k: v for k, v in result.items() if k != "timings"})
    if result.get("error"):
        result["error"] = {k: v for k, v in result["error"].items() if k != "raw_traceback"}
        if result["error"].get("traceback"):
            result["error"]["traceback"] = re.sub(r"\S*/grader-conn-[\w-]+/", "<tmp>/",
                                                  result["error"]["traceback"])
    if result.get("training"):
        result["training"] = {k: v for k, v in result["training"].items()
                              if k not in ("seconds", "build_seconds", "peak_rss_bytes")}
    return result


MIXED = {"ann": model_only_notebook(SOLUTION),
         "ben": model_only_notebook(MISTAKES["no_padding"]),
         "cat": code_notebook("undefined_name"),
         "dan": code_notebook("import time; time.sleep(600)"),
         "eve": code_notebook("import os; os._exit(1)")}


@pytest.mark.kernel
def test_a_mixed_folder_graded_on_a_cluster_matches_a_local_run(tmp_path, data_file, cluster):
    address, client = cluster
    folder = course(tmp_path / "course", MIXED)
    # the strongest sandbox each machine offers (here the same machine), as for a local run
    on_cluster = grade(folder, tmp_path / "cluster", data_file, "--cluster", address,
                       sandbox="auto")
    local = grade(folder, tmp_path / "local", data_file, "--workers", "2", sandbox="auto")
    assert on_cluster.returncode == local.returncode == 0, on_cluster.stderr + local.stderr
    found = results(tmp_path / "cluster")
    assert {s: (r["status"], (r["error"] or {}).get("kind")) for s, r in found.items()} == {
        "ann": ("passed", None), "ben": ("failed", None), "cat": ("error", "cell_error"),
        "dan": ("timeout", "timeout"), "eve": ("error", "kernel_died")}
    assert {s: comparable(r) for s, r in found.items()} == \
        {s: comparable(r) for s, r in results(tmp_path / "local").items()}
    assert (tmp_path / "cluster" / "grades.csv").read_text() == \
        (tmp_path / "local" / "grades.csv").read_text()
    # the lines name where the batch ran; the local run's keep their workers and threads
    assert f"grading 5 on cluster {address} (2 at once)" in on_cluster.stderr
    assert f"on cluster {address} (2 at once); sandbox" in on_cluster.stdout
    assert "grading 5 with 2 workers (" in local.stderr and "with 2 workers; sandbox" in local.stdout
    # TensorFlow ran in the kernels only, never in the Dask worker processes
    imported = client.run(lambda: "tensorflow" in sys.modules)
    assert imported and not any(imported.values())


@pytest.mark.kernel
def test_a_worker_killed_mid_task_still_gives_each_student_exactly_one_result(
        tmp_path, data_file, cluster):
    address, client = cluster
    log = tmp_path / "runs.log"
    names = ["s0", "s1", "s2"]
    folder = course(tmp_path / "course", {
        name: code_notebook(f"open({str(log)!r}, 'a').write({name!r} + '\\n')",
                            "import time; time.sleep(20)") for name in names})
    proc = grade(folder, tmp_path / "out", data_file, "--cluster", address, wait=False)
    deadline = time.monotonic() + LIMIT
    # both workers are mid-task: each notebook wrote its name and sleeps 20 s more
    while not log.exists() or len(log.read_text().split()) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    busy = [w for w, keys in client.processing().items() if keys]
    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
    # what the grading put in the temp dir is in the worker's own folder: the sweep removes it
    scratch = Path(client.run(tempfile.gettempdir, workers=busy[:1])[busy[0]])
    assert scratch.name.startswith(f"grader-dask-{pid}-") and list(scratch.glob("grader-run-*"))
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    found = results(tmp_path / "out")
    assert sorted(found) == names
    assert {r["error"]["kind"] for r in found.values()} == {"no_model"}  # graded, not a fault
    assert all(stdout.count(f"] {name}: ") + stderr.count(f"] {name}: ") == 1 for name in names)
    assert len(log.read_text().split()) > len(names)  # the killed worker's task ran again
    remove_stale("grader-dask-")  # as the next worker on the machine does (if none did yet)
    assert not scratch.exists()


@pytest.mark.kernel
def test_a_worker_with_other_grader_code_is_refused_and_the_others_grade(
        tmp_path, data_file, cluster):
    address, client = cluster
    other = tmp_path / "other"
    shutil.copytree(ROOT / "grader", other / "grader",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "grader" / "settings.py", "a") as f:
        f.write("# another build of the grader\n")
    env = {**os.environ, "PYTHONPATH": str(other)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
         "--nthreads", "1", "--resources", "GRADING=1", "--no-dashboard"],
        cwd=other, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(3, timeout=LIMIT)
        folder = course(tmp_path / "course", {"ann": model_only_notebook(SOLUTION)})
        done = grade(folder, tmp_path / "out", data_file, "--cluster", address)
        assert done.returncode == 0, done.stderr
        assert results(tmp_path / "out")["ann"]["status"] == "passed"
        refused = [line for line in done.stdout.splitlines() if "refused" in line]
        assert len(refused) == 1 and "install the coordinator's version" in refused[0]
        assert worker.wait(timeout=LIMIT) is not None  # it left the cluster
    finally:
        if worker.poll() is None:
            worker.kill()


@pytest.mark.kernel
@pytest.mark.slow
def test_identical_architectures_are_trained_once_across_the_cluster(tmp_path, data_file, cluster):
    address, client = cluster
    folder = course(tmp_path / "course", {"1a": model_only_notebook(SOLUTION),
                                          "1b": model_only_notebook(MISTAKES["no_padding"]),
                                          "2a": model_only_notebook(SOLUTION)})
    # one grading at a time: each task carries the trainings of those before it
    # (--memo off: no memo kept between runs answers 1a; only the coordinator's may answer 2a)
    proc = grade(folder, tmp_path / "out", data_file, "--cluster", address, "--workers", "1",
                 "--memo", "off", verify=True, wait=False)
    deadline = time.monotonic() + 300
    while not (tmp_path / "out" / "students" / "1a.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    # every worker process that could remember 1a's training is replaced by a fresh one: what
    # 2a finds can only come from the coordinator
    for pid in client.run(os.getpid).values():
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    found = results(tmp_path / "out")
    trained = {s: not r["training"]["cached"] for s, r in found.items()}
    assert trained == {"1a": True, "1b": True, "2a": False}
    assert found["2a"]["training"]["val_accuracy"] == found["1a"]["training"]["val_accuracy"]


# -- without a running cluster / with one that goes away ----------------------------------------

def test_an_unreachable_scheduler_is_a_usage_error_naming_it(tmp_path, fast_settings):
    from grader.batch.folder import grade_folder
    from grader.exceptions import UsageError

    course(tmp_path / "course", {"ann": code_notebook("1")})
    settings = fast_settings.with_(cluster="tcp://127.0.0.1:1", cluster_timeout=3)
    with pytest.raises(UsageError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"):
        grade_folder(tmp_path / "course", tmp_path / "out", settings=settings)


def test_grader_cluster_in_the_environment_is_the_default_of_cluster(monkeypatch):
    from grader.cli import parser, settings_from

    monkeypatch.setenv("GRADER_CLUSTER", "tcp://scheduler.example:8786")
    args = parser().parse_args(["grade", "x"])
    assert settings_from(args).cluster == "tcp://scheduler.example:8786"
    monkeypatch.delenv("GRADER_CLUSTER")
    assert settings_from(parser().parse_args(["grade", "x"])).cluster is None


CLUSTER_SCRIPT = """
import signal, sys
from distributed import LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"GRADING": 1},
                       dashboard_address=None, host="127.0.0.1", scheduler_port=0)
print(cluster.scheduler_address, flush=True)
signal.sigwait([signal.SIGTERM])
"""


@pytest.mark.kernel
def test_a_lost_scheduler_stops_the_batch_cleanly_and_a_rerun_grades_the_rest(
        tmp_path, fast_settings, cluster):
    from grader.batch.folder import grade_folder
    from grader.exceptions import GraderError

    folder = course(tmp_path / "course", {"quick": code_notebook("1"),
                                          "slow1": code_notebook("import time; time.sleep(20)"),
                                          "slow2": code_notebook("import time; time.sleep(20)")})
    doomed = subprocess.Popen([sys.executable, "-c", CLUSTER_SCRIPT], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = tmp_path / "out"
    try:
        address = doomed.stdout.readline().strip()
        settings = fast_settings.with_(cluster=address, cluster_timeout=10)

        def kill_when_quick_is_saved() -> None:
            deadline = time.monotonic() + 300
            while not (out / "students" / "quick.json").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            os.killpg(doomed.pid, signal.SIGKILL)

        import threading
        threading.Thread(target=kill_when_quick_is_saved, daemon=True).start()
        with pytest.raises(GraderError, match="lost the cluster at .* run the same command again"):
            grade_folder(folder, out, settings=settings, workers=1)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
    saved = (out / "students" / "quick.json").stat().st_mtime_ns
    assert sorted(results(out)) == ["quick"]
    # the re-run, on a cluster that works, grades only what is missing
    address, _ = cluster
    grade_folder(folder, out, settings=fast_settings.with_(cluster=address))
    assert sorted(results(out)) == ["quick", "slow1", "slow2"]
    assert (out / "students" / "quick.json").stat().st_mtime_ns == saved


def test_a_worker_without_the_required_sandbox_or_with_other_code_is_refused_with_the_reason(
        monkeypatch):
    from grader.batch.cluster import dask_worker
    from grader.exceptions import SandboxUnavailable

    def no_sandbox(level: str):
        raise SandboxUnavailable("no sandbox is available on this machine (no bwrap)")

    monkeypatch.setattr(dask_worker.api, "make_launcher", no_sandbox)
    assert "no bwrap" in dask_worker.refusal(dask_worker.identity(), "required")
    other = {"grader": "0.0.1", "grader_source": "0123456789abcdef"}
    assert "coordinator grader 0.0.1 (source 0123456789abcdef)" in dask_worker.refusal(other, "off")


def test_a_refused_worker_that_left_before_it_was_asked_is_still_named(capsys, fast_settings,
                                                                       monkeypatch):
    """Under load the refused worker may close before ``client.run`` reaches it: the refusal
    its plugin raised is what names it."""
    from grader.batch.cluster import dask_executor, dask_worker

    class Client:
        def register_plugin(self, plugin):
            raise RuntimeError(dask_worker.refused("tcp://10.0.0.9:1", "install the coordinator's "
                                                   "version here"))

        def run(self, *args, **kwargs):
            self.events.append("run")
            return self.answers

        def scheduler_info(self):
            self.events.append("info")
            workers = {"tcp://10.0.0.8:1": {"resources": {dask_worker.GRADING: 1}}}
            if self.events.count("info") <= self.closing:  # the refused one is closing
                workers["tcp://10.0.0.9:1"] = {"resources": {dask_worker.GRADING: 1}}
            return {"workers": workers}

    settings = fast_settings.with_(cluster="tcp://127.0.0.1:8786", cluster_timeout=5)
    monkeypatch.setattr(dask_executor, "_named", set())  # workers named once per process
    client = Client()
    client.events, client.closing = [], 3
    client.answers = {"tcp://10.0.0.8:1": None}  # the refused one is gone
    assert dask_executor.admit(client, settings) == ["tcp://10.0.0.8:1"]
    # the workers were asked once the refused one had left: a broadcast that meets a worker
    # as it closes waits for Dask's connect timeout (a second admission timed out that way)
    assert client.events[:5] == ["info", "info", "info", "info", "run"]
    out = capsys.readouterr().out
    assert "worker tcp://10.0.0.9:1 refused: install the coordinator's version here" in out
    assert "10.0.0.8" not in out
    # one that refused through its plugin is not admitted, whatever it answers after
    monkeypatch.setattr(dask_executor, "_named", set())
    client.answers = {"tcp://10.0.0.8:1": None, "tcp://10.0.0.9:1": None}
    assert dask_executor.admit(client, settings) == ["tcp://10.0.0.8:1"]
    assert "tcp://10.0.0.9:1 refused" in capsys.readouterr().out
