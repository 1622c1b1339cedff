"""The output folder of ``grade``: tested before any grading, one writer at a time, a full disk or
SIGTERM stops the batch cleanly and keeps what was saved. Everything through the real CLI."""
from __future__ import annotations

import contextlib
import errno
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

from grader.batch.outdir import Lock

from tests.conftest import ROOT
from tests.notebooks import code_notebook, write

pytestmark = pytest.mark.kernel


def grade_cmd(folder: Path, out: Path, data_file: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--workers",
            "1", "--sandbox", "off", "--no-verify", "--data", str(data_file), "--timeout", "90"]


def quick_then_slow(folder: Path, slow: int = 1, seconds: int = 60,
                    log: Path | None = None) -> Path:
    """``a_quick`` (graded in a second or two), then notebooks that sleep ``seconds``."""
    first = f"open({str(log)!r}, 'a').write('ran')" if log else "x = 1"
    write(code_notebook(first), folder / "a_quick.ipynb")
    for i in range(slow):
        write(code_notebook(f"import time; time.sleep({seconds})"), folder / f"s{i}.ipynb")
    return folder


def start(cmd: list[str], until: Path) -> subprocess.Popen:
    """Start the grader and wait (generously: the machine is shared) until ``until`` exists."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not until.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    return proc


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("grader: error:")]


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(path, options): a small tmpfs mounted at ``path``, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (as in CI)")
    mounted = []

    def mount(path: Path, options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path
    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_an_unwritable_out_exits_2_in_one_line_before_any_notebook_runs(tmp_path, data_file, tmpfs):
    log = tmp_path / "ran.log"
    folder = quick_then_slow(tmp_path / "course", slow=0, log=log)
    (tmp_path / "a_file").write_text("not a folder")
    read_only = tmpfs(tmp_path / "ro", "ro,size=1m")
    for out in (tmp_path / "a_file" / "reports", read_only / "reports", read_only):
        run = subprocess.run(grade_cmd(folder, out, data_file), cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert len(error_lines(run.stderr)) == 1 and f"cannot write to --out {out}" in run.stderr
    assert "Read-only file system" in run.stderr
    junit = grade_cmd(folder, tmp_path / "out", data_file) + ["--junit", str(read_only / "j.xml")]
    run = subprocess.run(junit, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "cannot write to --junit" in run.stderr
    assert not log.exists(), "a notebook ran although the results could not be written"


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_mid_batch_exits_5_in_one_line_and_the_rerun_reuses_what_was_saved(
        tmp_path, data_file, tmpfs):
    folder = quick_then_slow(tmp_path / "course", slow=1, seconds=15)
    out = tmpfs(tmp_path / "small", "size=8m") / "reports"
    proc = start(grade_cmd(folder, out, data_file), until=out / "students" / "a_quick.html")
    filler = fill(out.parent)  # s0 is still running: its result cannot be written
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 5 and "Traceback" not in err, err
    [line] = error_lines(err)
    assert "No space left on device" in line and "1 results are saved" in line
    assert json.loads((out / "students" / "a_quick.json").read_text())["submission"] == "a_quick"
    assert not list((out / "students").glob(".*")), "a half-written file was left"

    filler.unlink()
    rerun = subprocess.run(grade_cmd(folder, out, data_file), cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 unchanged since an earlier run" in rerun.stdout
    assert (out / "students" / "s0.json").is_file() and (out / "grades.csv").is_file()


def test_a_second_run_on_the_same_out_is_refused_and_sigterm_stops_the_first_cleanly(
        tmp_path, data_file):
    folder = quick_then_slow(tmp_path / "course", slow=2)
    out = tmp_path / "out"
    first = start(grade_cmd(folder, out, data_file), until=out / "students" / "a_quick.json")
    second = subprocess.run(grade_cmd(folder, out, data_file), cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    [line] = error_lines(second.stderr)
    assert "in use by another grader run" in line and f"pid {first.pid} " in line

    children = psutil.Process(first.pid).children(recursive=True)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "workers outlived SIGTERM"
    assert not list(Path(tempfile.gettempdir()).glob(f"grader-batch-{first.pid}-*"))
    assert json.loads((out / "students" / "a_quick.json").read_text())["submission"] == "a_quick"
    with Lock(out):  # released: the next run may start
        pass


def test_sigterm_stops_a_check_like_ctrl_c_with_143_and_no_kernel_left(tmp_path, data_file):
    notebook = write(code_notebook("import time\ntime.sleep(300)"), tmp_path / "slow.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "grader", "check", str(notebook), "--sandbox",
                             "off", "--no-verify", "--data", str(data_file)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kernels = []
    deadline = time.monotonic() + 120
    while not kernels and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "ipykernel_launcher" in " ".join(p.cmdline())]
    assert kernels, "the kernel never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    _, alive = psutil.wait_procs(kernels, timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "the kernel outlived SIGTERM"


#: run as ``python -c`` (cwd: the repository): ``grader check`` whose main thread gets SIGTERM
#: inside a finalizer, where Python prints and drops what the handler raises; ``WHERE`` says when
DROPPED_SIGTERM = """
import asyncio, os, signal, sys, threading, time
from pathlib import Path
from jupyter_client.provisioning import local_provisioner
from grader.execute import runner
from grader.sandbox import provisioner

WHERE, MARKER = sys.argv.pop(1), Path(sys.argv.pop(1))

class Finalizer:
    def __del__(self):
        try:
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at once, here
        except BaseException as exc:
            MARKER.write_text(type(exc).__name__)
            raise

def drop():
    Finalizer()

launch, fork, ready, execute = (local_provisioner.launch_kernel, provisioner._fork,
                                runner.wait_until_ready, runner._CappedClient.async_execute_cell)

def started(process):  # the kernel's process has just been started (or forked)
    if process is not None:
        MARKER.with_suffix(".pid").write_text(str(process.pid))
        if WHERE == "spawned":
            drop()
    return process

def spawned(*args, **kwargs):
    return started(launch(*args, **kwargs))

def forked(*args, **kwargs):
    return started(fork(*args, **kwargs))

async def waiting(*args, **kwargs):  # started, not answering yet
    if WHERE == "waiting":
        drop()
    return await ready(*args, **kwargs)

async def running(self, cell, index, *args, **kwargs):  # in a loop callback, the cell running
    if WHERE == "running" and index == len(self.nb.cells) - 1:
        asyncio.get_running_loop().call_later(0.5, drop)
    return await execute(self, cell, index, *args, **kwargs)

local_provisioner.launch_kernel, provisioner._fork, runner.wait_until_ready = spawned, forked, waiting
runner._CappedClient.async_execute_cell = running
from grader.__main__ import main
sys.exit(main())
"""


def check_cmd(notebook: Path, data_file: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "check", str(notebook), "--sandbox", "off",
            "--no-verify", "--data", str(data_file)]


def kernels_of(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "ipykernel_launcher" in " ".join(p.cmdline())]


def assert_stopped_by_sigterm(proc: subprocess.Popen, kernels: list[psutil.Process]) -> None:
    """Exit 143 with the one line and no traceback (within 60 s: a check that runs on fails),
    and none of ``kernels`` left (killed after the test, whatever happened)."""
    try:
        ran_on = ""
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            kernels += kernels_of(proc.pid)
            ran_on = next(line for line in Path(f"/proc/{proc.pid}/status").read_text()
                          .splitlines() if line.startswith("SigIgn"))
            proc.kill()
            _, err = proc.communicate()
        assert not ran_on, f"the check ran on after SIGTERM ({ran_on}): {err}"
        assert proc.returncode == 143 and "terminated (SIGTERM)" in err \
            and "Traceback" not in err and "Exception ignored" not in err, err
        _, alive = psutil.wait_procs(kernels, timeout=20)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], \
            "the kernel outlived SIGTERM"
    finally:
        for kernel in kernels:
            with contextlib.suppress(psutil.Error):
                kernel.kill()


@pytest.mark.parametrize("where", ["spawned", "waiting", "running"])
def test_a_sigterm_landing_in_a_finalizer_still_stops_a_check_with_143(tmp_path, data_file, where):
    """The handler's exception, raised inside a ``__del__`` (pyzmq's sockets close in theirs
    while a kernel starts), was dropped by Python: SIGTERM stayed ignored and the check ran on.
    Here the signal lands in one at three points: right after the kernel's process is spawned,
    while it starts, and while a cell runs."""
    notebook = write(code_notebook("import time\ntime.sleep(300)"), tmp_path / "slow.ipynb")
    marker = tmp_path / "landed"
    proc = subprocess.Popen([sys.executable, "-c", DROPPED_SIGTERM, where, str(marker),
                             *check_cmd(notebook, data_file)[3:]],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # written, not only created (a poll between the two read it empty once, on a slow machine)
    while not _text(marker) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    assert marker.read_text() == "Terminated"  # raised in the finalizer, and dropped there
    kernels = []
    with contextlib.suppress(psutil.NoSuchProcess):  # already stopped: checked gone below
        kernels.append(psutil.Process(int(marker.with_suffix(".pid").read_text())))
    assert_stopped_by_sigterm(proc, kernels)


def _text(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_sigterm_while_a_cell_runs_stops_a_check_with_143_and_no_traceback(tmp_path, data_file):
    """``asyncio.run``, stopped, cancels the running cell's task: nbclient turns that into
    DeadKernelError, which came out as a traceback ("unhandled exception during asyncio.run()
    shutdown")."""
    marker = tmp_path / "running"
    notebook = write(code_notebook(f"open({str(marker)!r}, 'w').close()\nimport time\n"
                                   "time.sleep(300)"), tmp_path / "slow.ipynb")
    proc = subprocess.Popen(check_cmd(notebook, data_file), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    kernels = kernels_of(proc.pid)
    time.sleep(0.3)  # the cell's reply awaited: the run idles in the event loop
    proc.send_signal(signal.SIGTERM)
    assert_stopped_by_sigterm(proc, kernels)


def test_output_files_get_the_mode_of_any_new_file_not_a_private_one(tmp_path):
    """A web server or a TA's account can read index.html and the results (umask 022 here)."""
    from grader.render.files import write_text

    target = write_text(tmp_path / "index.html", "<html></html>")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives under this process's umask
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)
