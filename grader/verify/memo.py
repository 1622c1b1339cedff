"""Where the verifier remembers trained architectures: a store of JSON entries by key.

Training is deterministic for everything a job's key hashes (``verifier.job_key``), so an
architecture many students built needs training once — per Verifier, per batch (the workers of
one machine share a folder) or per cluster (a store whose entries travel between machines).
The interface is deliberately tiny and JSON-only so that any of these is one small class:
``get(key) -> dict | None`` and ``put(key, entry)``. A store is an optimisation only: a miss, a
lost write or an unreadable entry costs one training, never a result.

Only successful trainings are stored (plain dicts); a limit hit or an untrainable architecture
is an exception that the Verifier remembers in its own process only.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

#: keys are sha256 hex digests; anything else never becomes a file name
KEY = re.compile(r"[0-9a-f]{64}")


@runtime_checkable
class MemoStore(Protocol):
    """What the Verifier needs of a memo: two calls, JSON in and out."""

    def get(self, key: str) -> dict | None:
        """The entry stored under ``key``, or ``None`` (never raises for a missing entry)."""

    def put(self, key: str, entry: dict) -> None:
        """Store ``entry`` (JSON-serialisable) under ``key``; may silently do nothing."""


class NoMemo:
    """Remembers nothing (a one-shot check)."""

    def get(self, key: str) -> dict | None:
        return None

    def put(self, key: str, entry: dict) -> None:
        return None


class MemoryMemo:
    """Entries in this process, kept as JSON text: what comes back is a copy, exactly what a
    store on another machine would give (a caller changing an entry changes no other's)."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> dict | None:
        text = self.entries.get(key)
        return None if text is None else json.loads(text)

    def put(self, key: str, entry: dict) -> None:
        self.entries[key] = json.dumps(entry, sort_keys=True)


class DirectoryMemo:
    """One ``<key>.json`` per entry in a folder of the grader's own (so its files are trusted),
    shared by the Verifiers of a batch's workers on one machine; written atomically, so a
    reader never sees half an entry."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise ValueError(f"not a memo key: {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            found = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def put(self, key: str, entry: dict) -> None:
        from grader.render.files import write_json

        try:
            write_json(self._path(key), entry)
        except OSError:
            pass  # a full or read-only disk costs a training later, nothing else


def memo_for(folder: Path | None) -> MemoStore:
    """Today's choice from a folder option: the folder's store, or none."""
    return DirectoryMemo(folder) if folder else NoMemo()
