"""An LMS's "download all submissions" zip, unpacked as untrusted input into the output folder.

A zip is written by whoever made it, so nothing in it is believed: an entry whose name leaves the
extraction folder (``..``, an absolute path, a drive letter), a link, a device or a second entry
of the same name is not written, and becomes a row of its own (:class:`Refused`); the rest grade.
Sizes are counted while copying, never taken from the headers: too many entries or too many bytes
in all stop the archive with a clear message before anything is written (a zip bomb), and one
entry larger than a notebook may be, or compressed suspiciously well, is refused on its own.
Names are decoded as UTF-8 when the zip says so (flag bit 11) or when they are valid UTF-8 (many
zippers never set the flag), else as cp437 (the zip format's own default); control characters
never reach a file name (``%NN`` instead: a backslash would read as a folder separator).

The folder is ``OUT/extracted/<sha256 of the zip>/``, completed by a marker file that records the
refused entries: a rerun on the same zip finds the marker and extracts nothing, so results are
reused exactly as for a folder; a half-written folder (crash) is removed and extracted again.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.exceptions import UsageError
from grader.util.text import plain

EXTRACTED = "extracted"
MARKER = ".grader-extracted.json"
UTF8_FLAG = 0x800
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Limits:
    """What one archive may hold; a notebook's own limit is ``Settings.max_notebook_bytes``."""

    max_entries: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_entry_bytes: int = 50 * 1024**2
    #: uncompressed / compressed bytes; notebooks (JSON, base64 plots) compress 3-20 times
    max_ratio: float = 200.0
    #: below this size a high ratio is harmless (an empty-ish file compresses without bound)
    ratio_floor_bytes: int = 1024**2


@dataclass(frozen=True)
class Refused:
    """An entry not written: its name as it can be shown, and why."""

    name: str
    reason: str
    kind: str = "submission_layout"


@dataclass(frozen=True)
class Extracted:
    folder: Path
    refused: list[Refused]
    reused: bool = False


def is_archive(path: Path) -> bool:
    """A regular file that is a zip (by its bytes, not its name)."""
    path = Path(path)
    return path.is_file() and not path.is_symlink() and zipfile.is_zipfile(path)


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name: UTF-8 if flagged or valid, else cp437; control characters escaped."""
    name = info.filename
    if not info.flag_bits & UTF8_FLAG:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass  # cp437 as zipfile decoded it
    return _CONTROL.sub(lambda m: f"%{ord(m.group()):02x}", name)


def safe_parts(name: str) -> tuple[str, ...] | None:
    """The path's components inside the extraction folder, or None if it would leave it."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = tuple(p for p in re.split(r"[/\\]+", name) if p not in ("", "."))
    if any(p == ".." for p in parts):
        return None
    return parts


def _kind(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is not a plain file or folder (by its Unix mode), or None."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # made on Unix, with a file type
        if stat.S_ISLNK(mode):
            return "a symbolic link"
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return "a special file (device, FIFO or socket)"
    return None


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def extract(archive: Path, out: Path, limits: Limits | None = None) -> Extracted:
    """Unpack ``archive`` into ``out/extracted/<sha256>/`` once; see the module docstring."""
    limits = limits or Limits()
    archive = Path(archive)
    try:
        folder = Path(out) / EXTRACTED / _digest(archive)[:24]
    except OSError as exc:
        raise UsageError(f"cannot read {plain(str(archive))}: {exc.strerror or exc}") from None
    marker = folder / MARKER
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
            return Extracted(folder, [Refused(**r) for r in saved["refused"]], reused=True)
        except (OSError, ValueError, TypeError, KeyError):
            pass
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            refused = _unpack(zf, folder, limits, plain(archive.name))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise UsageError(f"{plain(archive.name)} is not a readable zip archive ({exc})") from None
    except UsageError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    marker.write_text(json.dumps({"archive": plain(archive.name),
                                  "refused": [asdict(r) for r in refused]}), encoding="utf-8")
    return Extracted(folder, refused)


def _unpack(zf: zipfile.ZipFile, folder: Path, limits: Limits, label: str) -> list[Refused]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise UsageError(f"{label} holds {len(infos):,} entries (the limit is "
                         f"{limits.max_entries:,}): refused as a possible zip bomb; unpack it "
                         "yourself and grade the folder if it is genuine")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes:
        raise UsageError(f"{label} would unpack to {declared:,} bytes (the limit is "
                         f"{limits.max_total_bytes:,}): refused as a possible zip bomb")
    refused: list[Refused] = []
    written: set[str] = set()
    budget = [limits.max_total_bytes]
    for info in infos:
        name = entry_name(info)
        problem = _refusal(info, name, written, limits)
        if problem is not None:
            refused.append(Refused(name, *problem))
            continue
        parts = safe_parts(name) or ()
        written.add("/".join(parts))
        target = folder.joinpath(*parts)
        try:
            if info.is_dir() or name.endswith(("/", "\\")):
                target.mkdir(parents=True, exist_ok=True)
                continue
            copied = _copy(zf, info, folder, parts, limits, budget)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            target.unlink(missing_ok=True) if target.is_file() else None
            refused.append(Refused(name, f"it cannot be unpacked ({exc}); not extracted",
                                   "unreadable"))
            continue
        if not copied:
            target.unlink(missing_ok=True)
            refused.append(Refused(name, "it unpacks to more bytes than its header says or than "
                                   "the limits allow (a possible zip bomb); not extracted",
                                   "invalid_notebook"))
    return refused


def _refusal(info: zipfile.ZipInfo, name: str, written: set[str],
             limits: Limits) -> tuple[str, str] | None:
    """(reason, error kind) for an entry that is not written, else None."""
    parts = safe_parts(name)
    if parts is None:
        return (f"its path leaves the archive's folder ({name}); not extracted",
                "submission_layout")
    if not parts:
        return None if info.is_dir() else ("it has no name; not extracted", "submission_layout")
    kind = _kind(info)
    if kind is not None:
        return (f"it is {kind}; the grader never follows links or makes special files",
                "not_a_regular_file")
    if "/".join(parts) in written:
        return ("another entry has the same name; only the first was extracted",
                "submission_layout")
    if info.flag_bits & 0x1:
        return "it is encrypted; not extracted", "unreadable"
    if info.file_size > limits.max_entry_bytes:
        return (f"it unpacks to {info.file_size:,} bytes (the limit is "
                f"{limits.max_entry_bytes:,}); not extracted", "invalid_notebook")
    ratio = info.file_size / max(1, info.compress_size)
    if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
        return (f"it is compressed {ratio:,.0f} to 1 (the limit is {limits.max_ratio:g}): a "
                "possible zip bomb; not extracted", "invalid_notebook")
    return None


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, parts: tuple[str, ...],
          limits: Limits, budget: list[int]) -> bool:
    """Copy one entry counting real bytes; False (partial file left) when a limit is passed.
    Every folder on the way is created fresh under ``folder`` and never a link (nothing in
    ``folder`` comes from anywhere but this loop)."""
    parent = folder.joinpath(*parts[:-1])
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / parts[-1]
    limit = min(limits.max_entry_bytes, info.file_size, budget[0])
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    count = 0
    with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o600), "wb") as dst:
        while block := src.read(1 << 16):
            count += len(block)
            if count > limit:
                return False
            dst.write(block)
    budget[0] -= count
    return True
