"""A file's sha256 and the end of a log: each computed one way wherever it is needed."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

#: the end of a log that a result keeps ("Segmentation fault", the last traceback)
TAIL_BYTES = 3000


def sha256_bytes(data: bytes) -> str:
    """The hex digest of bytes already read (hashing what is then used: no second read)."""
    return hashlib.sha256(data).hexdigest()


def sha256_fd(fd: int) -> str:
    """The digest of an open file from its start (the caller keeps the descriptor)."""
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def sha256_file(path: Path | str) -> str:
    """The digest of a file, read in blocks (the course data file need not fit in memory twice)."""
    with open(path, "rb") as f:
        return sha256_fd(f.fileno())


def tail(log: BinaryIO, size: int = TAIL_BYTES, start: int = 0) -> str:
    """The last ``size`` bytes of an open binary log, not before offset ``start`` (what an
    earlier task wrote to the same log is not this one's), decoded leniently."""
    end = log.seek(0, os.SEEK_END)
    log.seek(max(start, end - size))
    return log.read().decode("utf-8", "replace")


def tail_of(path: str | Path, size: int = TAIL_BYTES, start: int = 0) -> str:
    """``tail`` of the log at ``path``; empty when it cannot be read."""
    try:
        with open(path, "rb") as log:
            return tail(log, size, start)
    except OSError:
        return ""
