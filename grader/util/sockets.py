"""Folders for Unix sockets, whose paths must be short.

A Unix socket's address holds at most ``MAX_SOCKET_PATH`` bytes everywhere (``sun_path``: 104
with its NUL on macOS, where students self-check; 108 on Linux). The sandboxed kernels' channels
(ZeroMQ ``ipc``) and the zygotes' fork sockets live in private folders in the temp dir, and a
batch and a cluster worker make a folder of theirs the temp dir of everything they start: with a
``TMPDIR`` of ~55 characters every sandboxed kernel's channel was too long (``ZMQError: File
name too long``, every submission a grader fault). Such a folder is made in the temp dir where
its sockets fit, else in the first of ``SHORT_BASES`` that is a folder this process can write
in; ``tempfile.mkdtemp`` makes it private (0700) there as in the temp dir.
"""
from __future__ import annotations

import os
import tempfile

#: the longest path a Unix socket address holds everywhere (see the module docstring)
MAX_SOCKET_PATH = 103
#: where a socket folder goes when the temp dir's path is too long, in this order
SHORT_BASES = ("/tmp", "/var/tmp", "/dev/shm")
#: the characters ``tempfile.mkdtemp`` adds to a prefix
RANDOM_CHARS = 8


class SocketPathTooLong(OSError):
    """No folder where the sockets' paths fit (the temp dir's is too long and no short base
    can be written)."""


def fits(path: str | os.PathLike) -> bool:
    """Whether ``path`` fits a Unix socket's address."""
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH


def bases() -> list[str]:
    """The temp dir, then each short base that differs from it."""
    first = tempfile.gettempdir()
    return [first, *(b for b in SHORT_BASES if os.path.realpath(b) != os.path.realpath(first))]


def socket_folder(prefix: str, longest: str) -> str:
    """A new private folder ``{prefix}…`` in which a socket named ``longest`` (the longest name
    it will hold) fits: in the temp dir if it fits there, else in a short base."""
    sample = prefix + "x" * RANDOM_CHARS
    tmp, *short = bases()
    if fits(os.path.join(tmp, sample, longest)):
        return tempfile.mkdtemp(prefix=prefix)
    for base in short:
        if fits(os.path.join(base, sample, longest)) and os.path.isdir(base) \
                and os.access(base, os.W_OK | os.X_OK):
            return tempfile.mkdtemp(prefix=prefix, dir=base)
    raise SocketPathTooLong(
        f"the temporary folder {tmp} is too long for a Unix socket's path "
        f"({len(os.fsencode(os.path.join(tmp, sample, longest)))} bytes, at most "
        f"{MAX_SOCKET_PATH}) and none of {', '.join(SHORT_BASES)} can be written: set TMPDIR "
        "to a shorter folder")
