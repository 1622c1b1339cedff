"""Temporary folders named after the process that made them, removed once that process is gone.

A grader process killed with ``kill -9`` (or by the kernel's OOM killer) cannot remove its own
temporary folders, and what it left there (a student's notebook, a copy of the course data, a
sandbox's plan) would stay in the temp dir for good. A batch coordinator's and a cluster
worker's folder is named ``{prefix}{pid}-…``; whichever process makes the next one with that
prefix first removes those whose process has ended. Everything the process and its workers,
kernels and verifiers put in the temp dir goes inside (``use_as_tempdir``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import psutil


def scratch_folder(prefix: str) -> str:
    """A new folder ``{prefix}{pid}-…`` in the temp dir, mode 0711 (a sandboxed kernel, another
    uid, reaches its own run dir inside, but lists nothing), after removing the stale ones."""
    remove_stale(prefix)
    folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    os.chmod(folder, 0o711)
    return folder


def remove_stale(prefix: str) -> list[str]:
    """Remove the ``{prefix}{pid}-…`` folders of processes that have ended; their paths. A
    folder whose pid is in use again stays until that process ends too (never one in use)."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def use_as_tempdir(folder: str) -> Callable[[], None]:
    """Make ``folder`` this process's temp dir (``tempfile``'s and, for its children,
    ``$TMPDIR``); what puts back the temp dir and ``$TMPDIR`` it had before (a Dask worker
    outlives the batch that used it)."""
    before, env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = folder

    def restore() -> None:
        tempfile.tempdir = before
        if env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env
    return restore
