"""Atomic writes: a reader (or a crash) never sees half a result file."""
from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for a moment, for
    every thread); 022 where ``/proc`` does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp makes 0600; outputs get the mode any new file gets (a web server can serve
        # index.html, a TA's account can read the results)
        os.fchmod(fd, 0o666 & ~_umask())
        # a lone surrogate (a name the kernel's JSON report escaped as \ud800) is written as
        # that escape: still valid JSON, text elsewhere; never a UnicodeEncodeError mid-batch
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def json_text(data: object) -> str:
    """The one JSON layout of every file the grader writes: indented, UTF-8 as it is."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write_json(path: Path, data: object) -> Path:
    return write_text(path, json_text(data))
