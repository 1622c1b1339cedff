"""After a sandboxed run failed: was it one of the grading machine's limits? Then say which, in
words a student understands, naming the value the grader configured.

Only the sandbox's own limits become limits; the rule for each:

- **memory**: the group's memory limit was hit (a process OOM-killed, or the guard's sum), or
  a cell raised ``MemoryError`` (numpy's ``_ArrayMemoryError``, TensorFlow's
  ``ResourceExhaustedError``). In the sandbox the kernel runs alone under the grader's limit,
  so memory it is refused is memory the grading machine did not give it: ``RLIMIT_DATA``
  refuses it at the levels without cgroups, the host's overcommit check refuses an allocation
  larger than the machine (30 GB) at the cgroup levels before the cgroup would kill it. No
  honest allocation within the limit ends this way; a cell that raises ``MemoryError`` itself
  gets the same 0 points either way.
- **file size**: a cell raised ``OSError`` ``[Errno 27] File too large`` (EFBIG): only
  ``RLIMIT_FSIZE`` refuses a write so (the kernel ignores SIGXFSZ, as Python does).
- **disk**: a size-limited tmpfs is full: the working folder (measured on the host), the
  results folder the guard watches, or a cell's "No space left on device", whose path names
  the sandbox's /tmp or /dev/shm when it can.
- **processes**, **CPU**: the group's counters.

Without a sandbox (``--sandbox off``) nothing is a limit but time and output: a
``MemoryError`` there is the notebook's own error.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from grader.exceptions import CellError, GraderError, LimitExceeded
from grader.sandbox.argv import KERNEL_CWD, KERNEL_OUT
from grader.settings import Settings

MB = 1024 * 1024
#: a working dir with less free space than this after a failure counts as full
DISK_FULL_MARGIN = 1024 * 1024
REFUSED = re.compile(r"raised (MemoryError|_ArrayMemoryError|ResourceExhaustedError)\b")
#: the size numpy (and TensorFlow) name in their message, e.g. "Unable to allocate 27.9 GiB"
REQUESTED = re.compile(r"allocat\w*\s+(\d+(?:\.\d+)?\s*[KMGTP]i?B)\b", re.I)
#: EFBIG, as Python words it (the errno, not the text: "File too large" is also a student's words)
TOO_LARGE = re.compile(r"raised (OSError|IOError): \[Errno 27\]")
NO_SPACE = "No space left on device"


def limit_hit(group, workdir: Path, settings: Settings, whole: bool,
              exc: GraderError | None = None, own_tmpfs: bool = False) -> LimitExceeded | None:
    """The limit behind ``exc`` (or behind a failure without one), or None. ``whole``: the
    memory and process limits hold for the whole tree (cgroups), not per process."""
    if group is None:
        return None
    failed = exc.message if isinstance(exc, CellError) else ""
    text = failed + "\n" + str((exc.details if exc else {}).get("traceback") or "")
    memory = settings.kernel_memory_bytes // MB
    scope = "all its processes together" if whole else "per process, or all its processes " \
        "together as last measured"
    if group.memory_exceeded():
        return LimitExceeded(f"the notebook used more than the memory limit of {memory:,} MB "
                             f"({scope}); the largest process was killed or its allocation "
                             "refused", kind="memory_limit")
    if REFUSED.search(failed):
        asked = REQUESTED.search(failed)
        what = asked.group(1) if asked else "more memory than it may use"
        return LimitExceeded(f"your notebook tried to allocate {what}; the grading machine "
                             f"allows {memory:,} MB ({scope}), so the allocation was refused",
                             kind="memory_limit")
    if group.pids_exceeded():
        return LimitExceeded(f"the notebook tried to run more than {settings.kernel_max_pids} "
                             "processes or threads at once", kind="process_limit")
    if TOO_LARGE.search(failed):
        return LimitExceeded(f"your notebook tried to write a file larger than the grading "
                             f"machine allows ({settings.kernel_max_file_bytes // MB:,} MB per "
                             "file)", kind="file_size_limit")
    where = _full(group, workdir, own_tmpfs, text)
    if where:
        return LimitExceeded(f"the notebook filled {where} (limit "
                             f"{settings.kernel_disk_bytes // MB:,} MB)", kind="disk_limit")
    if group.cpu_seconds() >= 0.95 * settings.kernel_cpu_seconds:  # cpuacct lags a little
        return LimitExceeded(f"the notebook used more than {settings.kernel_cpu_seconds:g} s of "
                             "CPU time", kind="cpu_limit")
    return None


def _full(group, workdir: Path, own_tmpfs: bool, text: str) -> str | None:
    """What filled up, in words: the folder measured full, else the one the error names."""
    if own_tmpfs and getattr(group, "disk_hit", False):
        return f"the folder where the grader collects its results ({KERNEL_OUT})"
    if not own_tmpfs and _measured_full(workdir):
        return f"its working folder ({KERNEL_CWD})"
    if NO_SPACE not in text:
        return None
    named = re.search(NO_SPACE + r": '([^'/][^']*)'", text)
    if named:  # a relative path: the working folder
        return f"its working folder ({KERNEL_CWD})"
    for folder, words in (("/dev/shm", "the sandbox's /dev/shm"), ("/tmp", "the sandbox's /tmp"),
                          (str(KERNEL_OUT), "the folder where the grader collects its results"),
                          (str(KERNEL_CWD), "its working folder")):
        if re.search(rf"['\"]{re.escape(folder)}(/|['\"])", text):
            return words if folder.startswith("/dev") or folder == "/tmp" else f"{words} ({folder})"
    return (f"one of its folders (the working folder {KERNEL_CWD}, the sandbox's /tmp or "
            "/dev/shm: the same limit each)")


def _measured_full(workdir: Path) -> bool:
    try:
        disk = os.statvfs(workdir)
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < DISK_FULL_MARGIN
