"""Intake: what in a submissions folder is a submission, and its bytes, read once, never via a link.

Submissions come from students (git keeps symlinks, archives keep FIFOs), so nothing here follows a
link: entries are classified with ``lstat`` (``os.scandir(..., follow_symlinks=False)``), each
folder on the way is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to the one above it, the
notebook with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never blocks), and ``fstat`` after the open
insists on a regular file under the size cap. The bytes read are the bytes hashed and graded, so
a file that changes or disappears later cannot mismatch its result. Every entry that looks like a
submission becomes a :class:`Submission`, with a ``problem`` (and its error kind) instead of a
notebook when it cannot be graded; one bad entry never stops the scan.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from grader import errors
from grader.errors import ErrorKind
from grader.exceptions import (
    GraderError,
    InvalidNotebook,
    NotARegularFile,
    SubmissionMissing,
    Unreadable,
    UsageError,
)

NOTEBOOK = ".ipynb"
LINK_ADVICE = errors.LINK_INSTEAD_OF_NOTEBOOK
_NOFOLLOW = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
_DIRECTORY = _NOFOLLOW | getattr(os, "O_DIRECTORY", 0)
_FILE = _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Submission:
    """One student's notebook (``root``/``parts``), or why there is none to grade (``problem``)."""

    student: str
    notebook: Path | None
    problem: str | None = None
    kind: ErrorKind = ErrorKind.SUBMISSION_LAYOUT
    root: Path | None = None
    #: what the LMS export says of it (``grader.intake.lms_layout``): layout, id, name, email,
    #: submission id, original file name, late flag, submission time, superseded entries
    origin: dict | None = None


def shown(name: str | bytes) -> str:
    """A file name as text that every output can hold: undecodable bytes appear as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def ident(name: str | bytes) -> str:
    """A student id from a file name, unique by construction: the name as text, and when it
    had to be escaped (undecodable bytes as ``\\xff``, control characters as ``\\x1b``) a
    ``~`` and a hash of its bytes, so ``jos\\xe9`` (bytes) and ``jos\\xe9`` (typed) never share
    an id. No control character reaches a file name, a CSV cell or a terminal."""
    raw = os.fsencode(name)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", shown(raw))
    try:
        exact = raw.decode("utf-8") == text
    except UnicodeDecodeError:
        exact = False
    return text if exact else f"{text}~{hashlib.sha256(raw).hexdigest()[:8]}"


def case_variants(subs: list[Submission]) -> list[str]:
    """Lines naming ids that differ only in case (distinct ids; a roster matches them exactly
    or reports them, never picks one)."""
    groups: dict[str, list[str]] = {}
    for sub in subs:
        groups.setdefault(sub.student.casefold(), []).append(sub.student)
    return [f"submissions {', '.join(repr(n) for n in names)} differ only in case: each is "
            "graded under its own id" for names in groups.values() if len(names) > 1]


def what_is(mode: int) -> str:
    """The kind of a file that is not a regular one, in words."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                        (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return words
    return "not a regular file"


# -- reading one submission ----------------------------------------------------------------------

def read_submission(path: Path, limit: int, *, root: Path | None = None,
                    follow_links: bool = False) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a typed ``NotGradable``.

    Under ``root`` every folder between it and the file is opened without following links, so a
    linked student folder is refused as surely as a linked notebook. ``follow_links`` (``check``
    of one's own file) opens a link's target, still only if that is a regular file.
    """
    path = Path(path)
    name = shown(path.name)
    try:
        fd = _open(path, root, follow_links)
    except GraderError:
        raise
    except FileNotFoundError:
        raise SubmissionMissing(f"{name} disappeared before it was graded") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise NotARegularFile(f"{name} (or a folder above it) is a symbolic link; the grader "
                                  "never follows links", advice=LINK_ADVICE) from None
        raise Unreadable(f"{name} cannot be read ({os.strerror(exc.errno or 0)})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{name} is {what_is(info.st_mode)}, not a notebook file",
                                  advice=LINK_ADVICE)
        _check_size(name, info.st_size, limit)
        data = f.read(limit + 1)
    _check_size(name, len(data), limit)
    return data


def _check_size(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise InvalidNotebook(f"{name} is too large ({size:,} bytes; the limit is {limit:,}); "
                              "it was not read", advice=errors.NOTEBOOK_TOO_LARGE)


def _open(path: Path, root: Path | None, follow_links: bool) -> int:
    """An fd for ``path``; a non-regular file (by ``lstat``) is refused before it is opened."""
    if root is None:
        info = os.stat(path) if follow_links else os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{shown(path.name)} is {what_is(info.st_mode)}, not a notebook "
                                  "file", advice=LINK_ADVICE)
        return os.open(path, _FILE & ~getattr(os, "O_NOFOLLOW", 0) if follow_links else _FILE)
    parts = path.relative_to(root).parts
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        info = os.lstat(parts[-1], dir_fd=fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{shown(parts[-1])} is {what_is(info.st_mode)}, not a notebook "
                                  "file", advice=LINK_ADVICE)
        return os.open(parts[-1], _FILE, dir_fd=fd)
    finally:
        os.close(fd)


# -- finding submissions -------------------------------------------------------------------------

def find_submissions(folder: Path, exclude: Path | None = None) -> list[Submission]:
    """``FOLDER/<student>.ipynb`` and ``FOLDER/<student>/<one>.ipynb``; hidden entries ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {shown(str(folder))}")
    skip = _identity(exclude)
    found: dict[str, list[Submission]] = {}
    for entry in _entries(folder):
        try:
            sub = _classify(folder, entry, skip)
        except OSError as exc:  # one unreadable entry is that student's row, never the batch's end
            sub = Submission(_student(entry.name), None, f"{shown(entry.name)} cannot be read "
                             f"({os.strerror(exc.errno or 0)})", ErrorKind.UNREADABLE)
        if sub is not None:
            found.setdefault(sub.student, []).append(sub)
    return [subs[0] if len(subs) == 1 else _duplicate(name, subs) for name, subs in found.items()]


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: os.fsencode(e.name))


def _identity(path: Path | None) -> tuple[int, int] | None:
    try:
        info = os.stat(path) if path is not None else None
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if info else None


def _student(name: str) -> str:
    return ident(name[: -len(NOTEBOOK)] if name.endswith(NOTEBOOK) else name)


def _classify(folder: Path, entry: os.DirEntry, skip: tuple | None) -> Submission | None:
    """A top-level entry as a submission, a problem row, or ``None`` (not a submission)."""
    info = entry.stat(follow_symlinks=False)
    student = _student(entry.name)
    if entry.name.endswith(NOTEBOOK):
        if stat.S_ISREG(info.st_mode):
            return Submission(student, Path(entry.path), root=folder)
        return not_regular(student, entry.name, info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        if (info.st_dev, info.st_ino) == skip:
            return None
        return _from_folder(folder, entry, student)
    if not stat.S_ISREG(info.st_mode) and "." not in entry.name:  # a link or FIFO named like a
        return not_regular(student, entry.name, info.st_mode)     # student folder: say why not
    return None


def not_regular(student: str, name: str, mode: int) -> Submission:
    return Submission(student, None, f"{shown(name)} is {what_is(mode)}, not a notebook file; "
                      "the grader never follows links or reads special files",
                      ErrorKind.NOT_A_REGULAR_FILE)


def _from_folder(folder: Path, entry: os.DirEntry, student: str) -> Submission:
    entries = _entries(Path(entry.path))
    notebooks = [e for e in entries if e.name.endswith(NOTEBOOK)]
    where = f"the folder {shown(entry.name)}/"
    if len(notebooks) == 1:
        info = notebooks[0].stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode):
            return Submission(student, Path(notebooks[0].path), root=folder)
        return not_regular(student, f"{shown(entry.name)}/{shown(notebooks[0].name)}", info.st_mode)
    if notebooks:
        names = ", ".join(shown(e.name) for e in notebooks)
        return Submission(student, None, f"{where} holds {len(notebooks)} notebooks ({names}); "
                                         "submit exactly one")
    others = [shown(e.name) for e in entries][:5]
    seen = f" (found: {', '.join(others)})" if others else " (it is empty)"
    return Submission(student, None, f"{where} holds no notebook (.ipynb){seen}")


def _duplicate(student: str, subs: list[Submission]) -> Submission:
    where = ", ".join(shown(s.notebook.name) if s.notebook else "a folder or link" for s in subs)
    return Submission(student, None, f"{len(subs)} submissions are named {student!r} ({where}); "
                                     "keep exactly one")
