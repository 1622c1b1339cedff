"""Grading a course folder: one result per student whatever the notebooks do, resumable after a
crash or Ctrl-C, no process left behind."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from grader.batch import folder as batch
from grader.batch.folder import find_submissions, grade_folder, reusable
from grader.batch.local import workers
from grader.exceptions import GraderError, UsageError
from grader.exitcodes import ExitCode
from grader.lms.gradebook import GradebookOptions
from grader.render.progress import Progress
from grader.result import ErrorInfo, Result, Status
from grader.sandbox import zygotes
from grader.verify import kept

from tests.conftest import ROOT
from tests.notebooks import MISTAKES, SOLUTION, code_notebook, model_only_notebook, write
from tests.reports import without_volatile_crosscheck


def course(folder: Path, notebooks: dict) -> Path:
    """Write ``{"alice": nb, "bob/hw": nb}`` as alice.ipynb and bob/hw.ipynb."""
    for name, nb in notebooks.items():
        write(nb, folder / f"{name}.ipynb")
    return folder


def results(out: Path) -> dict[str, dict]:
    """The per-student results of a batch, by student id."""
    return {p.stem: json.loads(p.read_text()) for p in (out / "students").glob("*.json")}


def our_processes() -> list[psutil.Process]:
    """Processes under this test process, except multiprocessing's resource tracker, the
    session's kept cross-check workers (``tests/conftest.py``) and kernel zygotes
    (``grader.sandbox.zygote``): they belong to the session."""
    session = kept.pids() | zygotes.pids()
    return [p for p in psutil.Process().children(recursive=True)
            if p.pid not in session and "resource_tracker" not in " ".join(p.cmdline())]


def gone(procs: list[psutil.Process], timeout: float = 20) -> bool:
    return not survivors(procs, timeout)


def survivors(procs: list[psutil.Process], timeout: float = 20) -> list[str]:
    """Who of ``procs`` still runs after ``timeout`` s (pid, status, command line): an
    assertion's message names them."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    found = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {proc.status()} {' '.join(proc.cmdline())[:120]!r}")
        except psutil.Error:
            pass
    return found


# -- finding submissions -------------------------------------------------------------------------

def test_submissions_are_notebooks_or_folders_with_exactly_one(tmp_path):
    nb = code_notebook("1")
    course(tmp_path, {"alice": nb, "bob/hw": nb, "carol/a": nb, "carol/b": nb,
                      ".ipynb_checkpoints/alice-checkpoint": nb, "erin/.ipynb_checkpoints/x": nb,
                      "erin/work": nb, "frank": nb, "frank/hw": nb})
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "hw.py").write_text("print(1)")
    (tmp_path / "notes.txt").write_text("not a submission")
    found = {s.student: s for s in find_submissions(tmp_path)}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert found["alice"].notebook == tmp_path / "alice.ipynb" and not found["alice"].problem
    assert found["bob"].notebook == tmp_path / "bob" / "hw.ipynb"
    assert found["erin"].notebook == tmp_path / "erin" / "work.ipynb"
    assert "2 notebooks (a.ipynb, b.ipynb)" in found["carol"].problem
    assert "no notebook" in found["dave"].problem and "hw.py" in found["dave"].problem
    assert "2 submissions are named 'frank'" in found["frank"].problem


def test_the_output_folder_inside_the_course_folder_is_not_a_student(tmp_path):
    course(tmp_path, {"alice": code_notebook("1")})
    (tmp_path / "reports").mkdir()
    assert [s.student for s in find_submissions(tmp_path, exclude=tmp_path / "reports")] == ["alice"]


def test_an_empty_or_missing_folder_is_a_usage_error(tmp_path, fast_settings):
    with pytest.raises(UsageError, match="no submissions"):
        grade_folder(tmp_path, tmp_path / "out", settings=fast_settings)
    with pytest.raises(UsageError, match="no such folder"):
        grade_folder(tmp_path / "absent", tmp_path / "out", settings=fast_settings)
    course(tmp_path, {"alice": code_notebook("1")})
    with pytest.raises(UsageError, match="--workers"):
        grade_folder(tmp_path, tmp_path / "out", settings=fast_settings, workers=0)


def test_grade_usage_errors_exit_2_without_a_traceback(tmp_path, data_file, capsys):
    from grader.cli import main
    args = ["--out", str(tmp_path / "out"), "--sandbox", "off", "--data", str(data_file)]
    assert main(["grade", str(tmp_path / "absent"), *args]) == 2
    course(tmp_path / "course", {"alice": code_notebook("1")})
    assert main(["grade", str(tmp_path / "course"), "--workers", "0", *args]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "--workers" in err and "Traceback" not in err


# -- reusing results -----------------------------------------------------------------------------

def test_a_saved_result_is_reused_only_for_the_same_notebook_grader_spec_and_options(tmp_path, spec):
    from grader.pipeline import versions
    options = {"verify": True, "verify_epochs": None, "notebook_epochs": 1}
    saved = Result("alice", Status.FAILED, 8, 15, notebook_sha256="abc",
                   versions=versions(), spec={"sha256": spec.sha256})
    path = tmp_path / "alice.json"

    def save(result: Result, **changes) -> None:
        path.write_text(json.dumps({**result.to_dict(), "options": options, **changes}))

    save(saved)
    assert reusable(path, "abc", spec, options).score == 8
    assert reusable(path, "other notebook", spec, options) is None
    assert reusable(path, "abc", spec, {**options, "verify": False}) is None
    save(saved, versions={**versions(), "grader": "0.0.0-old"})
    assert reusable(path, "abc", spec, options) is None
    save(saved, versions={**versions(), "grader_source": "other code, same version number"})
    assert reusable(path, "abc", spec, options) is None
    save(saved, spec={"sha256": "another spec"})
    assert reusable(path, "abc", spec, options) is None
    fault = Result("alice", Status.ERROR, notebook_sha256="abc", versions=versions(),
                   spec={"sha256": spec.sha256}, error=ErrorInfo("internal", "worker died"))
    save(fault)
    assert reusable(path, "abc", spec, options) is None  # grader faults are retried
    path.write_text('{"half a file')
    assert reusable(path, "abc", spec, options) is None


def test_workers_fit_the_cores_and_the_free_memory(monkeypatch):
    class Memory:
        available = 3 * batch.WORKER_MEMORY_BYTES
    monkeypatch.setattr(batch.psutil, "virtual_memory", lambda: Memory)
    monkeypatch.setattr(batch, "cores", lambda: 8)
    assert batch.default_workers(pending=100) == 3
    assert batch.default_workers(pending=2) == 2
    Memory.available = batch.WORKER_MEMORY_BYTES // 2
    assert batch.default_workers(pending=100) == 1
    assert batch.threads_per_worker(3) == 2 and batch.threads_per_worker(16) == 1


def test_progress_is_a_bar_with_counts_and_eta_on_a_terminal_and_lines_elsewhere():
    done = Result("bob", Status.FAILED, 8, 15, timings={"total": 12.0})
    log = io.StringIO()
    plain = Progress(total=3, to_grade=2, stream=log, tty=False)
    plain.begin([Result("alice", Status.PASSED, 15, 15)], workers=2, threads=1)
    plain.result(done)
    assert log.getvalue().splitlines() == [
        "grader: 3 submissions, 1 already graded, grading 2 with 2 workers (1 TensorFlow thread each)",
        "grader: [2/3] bob: failed 8/15 (12 s)"]
    screen = io.StringIO()
    bar = Progress(total=3, to_grade=2, stream=screen, tty=True)
    bar.result(done)
    text = bar.bar_text(120)
    assert "1/3" in text and "failed 1" in text and "passed 0" in text and "ETA" in text
    assert bar.eta() is not None and "\r" in screen.getvalue()


# -- grading a course ----------------------------------------------------------------------------

MIXED = {
    "ann": model_only_notebook(SOLUTION),
    "ben/homework": model_only_notebook(MISTAKES["no_padding"]),
    "cat": code_notebook("undefined_name"),
    "dan": code_notebook("import time; time.sleep(600)"),
    "eve": code_notebook("import os; os._exit(1)"),
    "fay": code_notebook("while True: print('x' * 10000)"),
    # unsandboxed, the kernel runs with the user's rights: it can kill the worker that started
    # it (jupyter_client names it in JPY_PARENT_PID)
    "gus": code_notebook("import os, signal; os.kill(int(os.environ['JPY_PARENT_PID']), "
                         "signal.SIGKILL)"),
    "hal/one": code_notebook("1"),
    "hal/two": code_notebook("2"),
}
EXPECTED = {"ann": ("passed", None), "ben": ("failed", None), "cat": ("error", "cell_error"),
            "dan": ("timeout", "timeout"), "eve": ("error", "kernel_died"),
            "fay": ("timeout", "output_limit"), "gus": ("error", "internal"),
            "hal": ("error", "submission_layout")}


@pytest.mark.kernel
def test_a_mixed_course_gets_one_result_per_student_with_two_workers(tmp_path, fast_settings, capsys):
    folder = course(tmp_path / "course", MIXED)
    out = tmp_path / "out"
    # 45 s: dan (sleeps 600 s) always hits it; ann (keras, ~4 s quiet) never does, even on a
    # machine ten times busier
    settings = fast_settings.with_(notebook_timeout=45, output_limit_bytes=200_000)
    code = grade_folder(folder, out, settings=settings, workers=2, junit_path=tmp_path / "j.xml",
                        gradebook=GradebookOptions("moodle"))
    found = results(out)
    assert sorted(found) == sorted(EXPECTED)
    for student, (status, kind) in EXPECTED.items():
        assert found[student]["submission"] == student
        assert (found[student]["status"], (found[student]["error"] or {}).get("kind")) == (status, kind)
    assert "worker process died (signal SIGKILL)" in found["gus"]["error"]["message"]
    assert code == ExitCode.GRADER_ERROR  # gus: the grader's own worker failed
    rows = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
    assert [r["student"] for r in rows] == sorted(EXPECTED)
    assert (tmp_path / "j.xml").read_text().count("<testsuite ") == len(EXPECTED)
    moodle = {r["ID number"]: r for r in csv.DictReader(io.StringIO(
        (out / "gradebook-moodle.csv").read_text(encoding="utf-8")))}
    assert sorted(moodle) == sorted(EXPECTED) and moodle["gus"]["cnn2"] == ""  # a grader fault
    assert moodle["cat"]["cnn2"] == "0" and moodle["ann"]["cnn2"] == f'{found["ann"]["score"]:g}'
    causes = {(g["category"], g["words"]): g["students"]
              for g in json.loads((out / "course.json").read_text())["not_graded"]}
    assert causes[("limit", "timeout")] == ["dan"] and causes[("limit", "output_limit")] == ["fay"]
    assert causes[("grader", "internal")] == ["gus"] and ["cat"] in [
        v for (c, w), v in causes.items() if w.startswith("cell_error: ")]
    assert "grader: 8 submissions: 1 passed, 1 failed, 4 error, 2 timeout (1 grader faults" \
        in capsys.readouterr().out
    assert gone(our_processes(), timeout=10)
    assert not list(Path(tempfile.gettempdir()).glob(f"grader-batch-{os.getpid()}-*"))


@pytest.mark.kernel
def test_a_worker_past_its_deadline_is_stopped_and_the_batch_goes_on(tmp_path, fast_settings):
    folder = course(tmp_path / "course", {"slow": code_notebook("import time; time.sleep(600)"),
                                          "quick": code_notebook("1")})
    deadline = 30  # seconds: well after "quick" ends (~2 s quiet, also on a busy machine), long before "slow" would
    grace = deadline - fast_settings.startup_timeout - fast_settings.notebook_timeout
    code = grade_folder(folder, tmp_path / "out", settings=fast_settings.with_(worker_grace=grace),
                        workers=2)
    found = results(tmp_path / "out")
    assert f"still busy after {deadline} s" in found["slow"]["error"]["message"]
    assert found["quick"]["error"]["kind"] == "no_model" and code == ExitCode.GRADER_ERROR
    assert gone(our_processes(), timeout=10)


# -- resuming ------------------------------------------------------------------------------------

def logged_course(folder: Path, log: Path, names: list[str]) -> dict:
    """Notebooks that append their name to ``log`` each time they run (and take a moment)."""
    nbs = {name: code_notebook(f"open({str(log)!r}, 'a').write({name!r} + '\\n')",
                               "import time; time.sleep(1.5)") for name in names}
    nbs[names[-1]].cells.append(code_notebook("1 / 0").cells[0])
    nbs["model"] = model_only_notebook(MISTAKES["no_pooling"])
    return course(folder, nbs)


def grade_cmd(folder: Path, out: Path, data_file: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--workers",
            "2", "--sandbox", "off", "--no-verify", "--data", str(data_file), "--timeout", "60"]


def _as_from_a_terminal() -> None:
    """A background job of a non-interactive shell (as CI may be) starts with SIGINT ignored,
    and Python keeps that; a terminal's foreground process gets Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_wait_for(cmd: list[str], out: Path, count: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)
    deadline = time.monotonic() + 120
    while len(list(out.glob("students/*.json"))) < count:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    return proc


def without_timings(result: dict) -> dict:
    return without_volatile_crosscheck({k: v for k, v in result.items() if k != "timings"})


@pytest.mark.kernel
def test_after_kill_9_a_rerun_grades_only_what_is_missing_and_matches_an_uninterrupted_run(
        tmp_path, data_file):
    names = [f"s{i}" for i in range(6)]
    log = tmp_path / "executions.log"
    folder = logged_course(tmp_path / "course", log, names)
    out = tmp_path / "out"
    proc = start_and_wait_for(grade_cmd(folder, out, data_file), out, count=2)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = survivors(children)
    assert not left, f"workers or kernels outlived the killed grader: {left}"
    lock = json.loads((out / ".grader.lock").read_text())
    assert lock["pid"] == proc.pid  # left by the killed run: stale, so the rerun takes it
    before = {p.stem: p.stat().st_mtime_ns for p in out.glob("students/*.json")}
    assert 2 <= len(before) < len(names) + 1, "the kill did not land midway"
    ran_before = log.read_text().split()

    rerun = subprocess.run(grade_cmd(folder, out, data_file), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    ran = log.read_text().split()
    assert sorted(results(out)) == sorted(names + ["model"])
    for name in names:  # graded once; re-run only if its grading was cut short by the kill
        assert ran.count(name) == ran_before.count(name) + (name not in before)
    assert all(out.joinpath("students", f"{s}.json").stat().st_mtime_ns == t
               for s, t in before.items())

    fresh = tmp_path / "fresh"
    subprocess.run(grade_cmd(folder, fresh, data_file), cwd=ROOT, capture_output=True, check=True)
    assert {s: without_timings(r) for s, r in results(out).items()} == \
        {s: without_timings(r) for s, r in results(fresh).items()}
    assert (out / "grades.csv").read_text() == (fresh / "grades.csv").read_text()


@pytest.mark.kernel
def test_ctrl_c_stops_cleanly_and_keeps_what_was_graded(tmp_path, data_file):
    # one quick notebook, then slow ones: the Ctrl-C always lands while kernels are running
    slow = {f"s{i}": code_notebook("import time; time.sleep(60)") for i in range(4)}
    folder = course(tmp_path / "course", {"a_quick": code_notebook("x = 1"), **slow})
    out = tmp_path / "out"
    proc = start_and_wait_for(grade_cmd(folder, out, data_file), out, count=1)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert gone(children, timeout=5), "workers or kernels outlived Ctrl-C"
    saved = results(out)
    assert 1 <= len(saved) < 5 and all(Result.from_dict(r).status for r in saved.values())
    assert not list(out.glob("students/.*"))  # no half-written files
    assert [p.name for p in out.glob(".*")] == [".grader.lock"]


def test_workers_that_cannot_start_stop_the_batch_with_a_clear_error(tmp_path, spec, data_file,
                                                                      fast_settings, monkeypatch):
    monkeypatch.setattr(workers, "worker_main", None)  # a spawned process cannot run this
    pool = workers.LocalPool(2, spec, data_file, fast_settings, lambda task, data: None)
    tasks = [workers.Task("alice", tmp_path / "alice.ipynb")]
    with pytest.raises(GraderError, match="could not start"):
        pool.run(tasks)
    # generous: a spawned process that cannot start still imports for seconds on a busy machine
    assert gone(our_processes(), timeout=60)
