"""Temporary folders named after their process (``grader.util.scratch``): what a batch
coordinator or a cluster worker killed with ``kill -9`` left in the temp dir is removed by the
next one, never the folder of a process still running."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.util.scratch import remove_stale, scratch_folder, use_as_tempdir

PREFIX = "grader-test-scratch-"


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_new_folder_removes_those_of_ended_processes_and_keeps_the_living(temp_dir):
    dead = temp_dir / f"{PREFIX}{dead_pid()}-abc"
    (dead / "grader-run-x").mkdir(parents=True)
    (dead / "grader-run-x" / "mnist_4000.pkl.gz").write_bytes(b"data")
    living = temp_dir / f"{PREFIX}{os.getppid()}-abc"
    living.mkdir()
    other = temp_dir / f"grader-other-{dead_pid()}-abc"  # another prefix: not ours to judge
    other.mkdir()

    folder = Path(scratch_folder(PREFIX))

    assert not dead.exists() and living.is_dir() and other.is_dir()
    assert folder.parent == temp_dir and folder.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o711  # a sandboxed kernel traverses, lists nothing
    assert remove_stale(PREFIX) == []  # this process's own folder is in use


def test_the_temp_dir_is_the_processs_and_its_childrens(temp_dir, monkeypatch):
    monkeypatch.setenv("TMPDIR", "/somewhere")  # put back after the test
    (temp_dir / "x").mkdir()
    use_as_tempdir(str(temp_dir / "x"))
    assert tempfile.gettempdir() == str(temp_dir / "x") == os.environ["TMPDIR"]
    child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(temp_dir / "x")


def test_a_dask_worker_grades_inside_its_own_folder_for_its_whole_life(temp_dir, monkeypatch):
    """What a cluster worker's gradings start (run dirs, sandboxes, verifiers, zygotes) goes in
    the worker's folder, which stays from one batch to the next (its zygotes live there) and
    which the next worker removes once this one has ended (killed mid-task or not)."""
    pytest.importorskip("distributed")
    from grader.batch.cluster import dask_worker

    monkeypatch.setattr(dask_worker, "_tmpdir", [])
    monkeypatch.setenv("TMPDIR", str(temp_dir))
    stale = temp_dir / f"{dask_worker.SCRATCH_PREFIX}{dead_pid()}-abc"
    stale.mkdir()
    folder = dask_worker._worker_tmpdir()
    assert not stale.exists()
    assert tempfile.gettempdir() == folder == os.environ["TMPDIR"]
    assert Path(tempfile.mkdtemp(prefix="grader-run-")).parent == Path(folder)
    dask_worker.close_all()  # the batch's end
    assert dask_worker._worker_tmpdir() == folder and Path(folder).is_dir()


def test_another_users_look_alike_folder_is_never_removed(temp_dir):
    """A root grader sweeps only its own folders: not a link, not another user's."""
    target = temp_dir / "precious"
    target.mkdir()
    (temp_dir / f"{PREFIX}{dead_pid()}-link").symlink_to(target)
    foreign = temp_dir / f"{PREFIX}{dead_pid()}-foreign"
    foreign.mkdir()
    if os.getuid() == 0:
        os.chown(foreign, 12345, 12345)
    assert remove_stale(PREFIX) == ([] if os.getuid() == 0 else [str(foreign)])
    assert target.is_dir()
