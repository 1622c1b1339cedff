"""Stage 1: provision the course data file, verified by its sha256.

Order: ``--data PATH``, then ``GRADER_DATA``, then the per-user cache, then a download from the
spec's URL (or ``GRADER_DATA_URL``, for a mirror) into that cache. Whatever the source, the file
must match the spec's sha256: the calibrated accuracy range holds only for that data.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .exceptions import DataUnavailable

DOWNLOAD_TIMEOUT = 60.0  # seconds for the whole download of a few MB
MAX_DOWNLOAD_BYTES = 100 * 1024**2


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-grader"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(data: dict, explicit: Path | None = None, *, url: str | None = None,
            cache: Path | None = None) -> Path:
    """The path of a verified copy of ``data['file']``; raises ``DataUnavailable``."""
    name, expected = data["file"], data["sha256"]
    for source, path in (("--data", explicit), ("GRADER_DATA", os.environ.get("GRADER_DATA"))):
        if path:
            return _verified(Path(path), name, expected, source)
    cache = cache or cache_dir()
    cached = cache / name
    if cached.is_file() and sha256(cached) == expected:
        return cached
    url = url or os.environ.get("GRADER_DATA_URL") or data.get("url")
    if not url:
        raise _unavailable(name, "no download URL is configured")
    return download(url, cached, expected)


def _verified(path: Path, name: str, expected: str, source: str) -> Path:
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise DataUnavailable(f"the data file given by {source} does not exist: {path}")
    if sha256(path) != expected:
        raise DataUnavailable(f"the data file given by {source} ({path}) is not the course's file: "
                              f"its sha256 differs from {expected[:12]}…")
    return path


def seed_cache(data: dict, source: Path, cache: Path | None = None) -> Path:
    """Copy a verified file into the cache, for machines that cannot download."""
    verified = _verified(Path(source), data["file"], data["sha256"], "--from")
    target = (cache or cache_dir()) / data["file"]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".seed-")
    with os.fdopen(fd, "wb") as out, open(verified, "rb") as src:
        out.write(src.read())
    os.replace(tmp, target)
    return target


def download(url: str, target: Path, expected: str) -> Path:
    """Download to a temporary file, check the digest, then move into place atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
            copied = 0
            while block := resp.read(1 << 16):
                copied += len(block)
                if copied > MAX_DOWNLOAD_BYTES:
                    raise DataUnavailable(f"the download from {url} is larger than expected")
                out.write(block)
        if sha256(Path(tmp)) != expected:
            raise DataUnavailable(f"the file downloaded from {url} does not match the expected "
                                  f"sha256 {expected[:12]}…; it was discarded")
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _unavailable(target.name, f"the download from {url} failed ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unavailable(name: str, why: str) -> DataUnavailable:
    return DataUnavailable(
        f"the data file {name} is not available: {why}. Download it once and pass it with "
        f"--data PATH, or set GRADER_DATA=PATH.")
