"""The verification memo kept between runs, under the user's cache (issue 29).

A check of an architecture this machine already trained needs no training at all: the result is
deterministic for everything the job's key hashes (``verifier.job_key``: architecture, input
shape, training settings, data sha256, thread count, TensorFlow/Keras/NumPy versions, the
machine's architecture and a fingerprint of the verification code). Where it lives:

- ``Settings.memo`` / ``--memo``: ``auto`` (default), ``off``, or a folder;
- ``auto``: ``$GRADER_MEMO`` (a folder, or ``off``), else ``$XDG_CACHE_HOME/cnn-grader/memo``
  (``~/.cache/cnn-grader/memo``).

Every entry is verified when read: an envelope names the format and the key it was written for,
and carries a sha256 of its content; the content must look like a training. A corrupt,
truncated or foreign entry (another key's file copied over, another format) is a miss, and the
training that follows replaces it. Writes are atomic (a temporary file renamed into place), so
concurrent writers (a batch's workers, two terminals) never leave half an entry; two of them
training the same architecture at once both train, and the later write wins (the same result).

Trust: the folder is the grader's own, as writable as the user's cache. In ``grade`` the
sandboxed kernels run as other users and cannot reach it; a notebook run with ``--sandbox off``
runs with the user's own rights and could write it, as it could change the grader itself. Only
JSON is read, never unpickled; issue 22's cross-check runs in the verification process on a hit
too, which is why a hit still starts that process.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from grader.verify.memo import KEY, DirectoryMemo, MemoStore

FORMAT = "cnn-grader verification memo 1"
#: entries kept; past this the least recently used are removed (an entry is a few KB)
MAX_ENTRIES = 20_000
OFF = "off"


def default_folder() -> Path:
    from grader.intake.data import cache_dir

    return cache_dir() / "memo"


def folder_for(choice: str | os.PathLike | None) -> Path | None:
    """The memo folder ``choice`` (``auto``, ``off`` or a folder) names; None: no memo."""
    choice = "auto" if choice is None else str(choice)
    if choice == "auto":
        choice = os.environ.get("GRADER_MEMO") or "auto"
    if choice.strip().lower() in (OFF, "none", "0", "false", "no"):
        return None
    if choice != "auto":
        return Path(choice).expanduser()
    try:
        return default_folder()
    except (RuntimeError, KeyError, OSError):  # no home folder to find (a bare service account)
        return None


def store_for(choice: str | os.PathLike | None) -> PersistentMemo | None:
    folder = folder_for(choice)
    return PersistentMemo(folder) if folder is not None else None


def checksum(entry: dict) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def looks_like_training(entry: object) -> bool:
    """What the Verifier relies on: an accuracy (a number in [0, 1] or None) and whole epochs."""
    if not isinstance(entry, dict) or "val_accuracy" not in entry:
        return False
    acc, epochs = entry["val_accuracy"], entry.get("epochs")
    number = isinstance(acc, (int, float)) and not isinstance(acc, bool)
    if acc is not None and not (number and math.isfinite(acc) and 0.0 <= acc <= 1.0):
        return False
    return isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1


class PersistentMemo:
    """A :class:`~grader.verify.memo.MemoStore` in a folder that outlives runs, verified."""

    def __init__(self, folder: Path, max_entries: int = MAX_ENTRIES) -> None:
        self.folder = Path(folder)
        self.max_entries = max_entries
        self._files = DirectoryMemo(self.folder)  # one atomically written JSON file per key

    def __repr__(self) -> str:
        return f"PersistentMemo({str(self.folder)!r})"

    def get(self, key: str) -> dict | None:
        envelope = self._files.get(key)
        if envelope is None or envelope.get("format") != FORMAT or envelope.get("key") != key:
            return None
        entry = envelope.get("entry")
        if not isinstance(entry, dict) or not looks_like_training(entry) \
                or envelope.get("sha256") != checksum(entry):
            return None
        try:
            os.utime(self._files._path(key))  # recently used: kept when the memo is pruned
        except OSError:
            pass
        return entry

    def put(self, key: str, entry: dict) -> None:
        if not KEY.fullmatch(key) or not looks_like_training(entry):
            return
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return  # a memo is an optimisation only
        self._files.put(key, {"format": FORMAT, "key": key, "sha256": checksum(entry),
                              "entry": entry})
        self._prune()

    def _prune(self) -> None:
        """Remove the least recently used entries past ``max_entries`` (never fails)."""
        try:
            files = [e for e in os.scandir(self.folder) if e.name.endswith(".json")]
            if len(files) <= self.max_entries:
                return
            files.sort(key=lambda e: e.stat().st_mtime)
            for old in files[: len(files) - self.max_entries]:
                os.unlink(old.path)
        except OSError:
            pass


class WriteOnly:
    """Writes to ``store`` and never reads it: ``grader calibrate`` measures afresh (its seconds
    and accuracies are this machine's now) and leaves the reference's trainings for ``check``."""

    def __init__(self, store: MemoStore) -> None:
        self.store = store

    def get(self, key: str) -> dict | None:
        return None

    def put(self, key: str, entry: dict) -> None:
        self.store.put(key, entry)
