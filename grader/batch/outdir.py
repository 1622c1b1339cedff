"""The output folder of ``grade``: tested before any grading, one writer at a time, no collisions.

- **Pre-flight**: ``DIR`` is created and a file is written, synced and removed in it before any
  notebook runs, so a read-only or impossible ``--out`` costs nothing (exit 2, one line).
- **Lock**: ``DIR/.grader.lock`` is held with ``flock`` for the whole run and names its pid, host
  and start time. A second ``grade`` on the same folder refuses (exit 2) naming the holder. The
  kernel releases a ``flock`` when its process dies, however (``kill -9``), so a lock left by a
  dead run is stale by construction: the next run takes it and rewrites the file. The file is
  never deleted (deleting it would let two runs lock two different files).
- **Layout**: per-student files live in ``DIR/students/<id>.json|html``, the batch's own files
  (``index.html``, ``grades.csv``, the lock) at the top, so no student name can overwrite them.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
from pathlib import Path

from grader.exceptions import UsageError

LOCK_FILE = ".grader.lock"
STUDENTS = "students"


#: bytes of a student's file name before ``.json``/``.html``; longer ids are shortened + hashed
MAX_STEM_BYTES = 200


def file_stem(student: str) -> str:
    """The id as a file name: ids are file names already (no ``/``, never hidden), but escaping
    undecodable bytes can make one longer than a file system allows (255 bytes)."""
    raw = student.encode("utf-8")
    if len(raw) <= MAX_STEM_BYTES:
        return student
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return raw[:MAX_STEM_BYTES - 17].decode("utf-8", "ignore") + "~" + digest


def student_file(out: Path, student: str, suffix: str) -> Path:
    """``DIR/students/<id><suffix>``."""
    return Path(out) / STUDENTS / f"{file_stem(student)}{suffix}"


def student_href(student: str) -> str:
    """The index's link to a student's report, relative to ``DIR`` (percent-encoded: an id is a
    file name and may hold ``#``, ``?`` or ``%``)."""
    from urllib.parse import quote
    return f"{STUDENTS}/{quote(file_stem(student) + '.html', safe='')}"


def preflight(out: Path, junit: Path | None = None) -> None:
    """Create ``out`` (and ``out/students``) and prove it takes a file, and so the folder of the
    JUnit file if one is asked for; else a one-line error (exit 2) before any grading."""
    _writable(Path(out) / STUDENTS, "--out", Path(out))
    if junit is not None:
        _writable(Path(junit).parent, "--junit", Path(junit))


def _writable(folder: Path, option: str, shown: Path) -> None:
    probe = folder / f".grader-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"grader write test\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {option} {shown}: {exc.strerror or exc}; "
                         "choose a writable place") from None


class Lock:
    """``with Lock(out):`` holds ``out/.grader.lock`` for one run; see the module docstring."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise UsageError(f"cannot create the lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = _read(self.path) or {}
            raise UsageError(f"{self.path.parent} is in use by another grader run (pid "
                             f"{holder.get('pid', '?')} on {holder.get('host', '?')}, started "
                             f"{holder.get('started', '?')}); wait for it to finish") from None
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode() + b"\n")
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)  # the file stays (no race on its inode), emptied
            except OSError:
                pass
            os.close(self.fd)  # releases the lock
            self.fd = None


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
