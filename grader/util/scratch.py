"""Temporary folders named after the process that made them, removed once that process is gone.

A grader process killed with ``kill -9`` (or by the kernel's OOM killer) cannot remove its own
temporary folders, and what it left there (a student's notebook, a copy of the course data, a
sandbox's plan) would stay in the temp dir for good. A batch coordinator's, a cluster worker's,
a sandbox session's and a verification worker's folder is named ``{prefix}{pid}-…``; whichever
process makes the next one with that prefix first removes those whose process has ended. A batch
and a cluster worker make theirs the temp dir of everything they start (``use_as_tempdir``).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Container
from pathlib import Path

import psutil


def scratch_folder(prefix: str, mode: int = 0o711) -> str:
    """A new folder ``{prefix}{pid}-…`` in the temp dir, after removing the stale ones. Mode
    0711 by default: a sandboxed kernel, another uid, reaches its own run dir inside, but lists
    nothing."""
    remove_stale(prefix)
    folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    os.chmod(folder, mode)
    return folder


def remove_stale(prefix: str) -> list[str]:
    """Remove the ``{prefix}{pid}-…`` folders of processes that have ended; their paths."""
    removed = []
    for folder in stale_folders(prefix):
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


def stale_folders(prefix: str, root: str | None = None,
                  owners: Container[int] = ()) -> list[Path]:
    """The ``{prefix}{pid}-…`` folders in the temp dir (or ``root``) whose process has ended. A
    folder whose pid is in use again stays until that process ends too (never one in use).
    ``owners``: uids besides this user's whose folders count too (a sandbox's)."""
    found = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)) and _own_folder(folder, owners):
            found.append(folder)
    return found


def _own_folder(folder: Path, owners: Container[int] = ()) -> bool:
    """A folder (not a link) of this user's (or of ``owners``): another user's look-alike is
    never touched."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and (info.st_uid == os.getuid() or info.st_uid in owners)


def use_as_tempdir(folder: str) -> None:
    """Make ``folder`` this process's temp dir: ``tempfile``'s and, for its children,
    ``$TMPDIR`` (a batch worker and a Dask worker keep it for their whole life)."""
    tempfile.tempdir = os.environ["TMPDIR"] = folder
