"""Atomic writes: a reader (or a crash) never sees half a result file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
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


def write_json(path: Path, data: object) -> Path:
    return write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
