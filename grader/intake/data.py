"""Stage 1: provision the course data file, verified by its sha256.

Order: ``--data PATH``, then ``GRADER_DATA``, then (``grader check``) the file beside the
notebook, as the course tells students to keep it, then the per-user cache, then a download from the
spec's URL (or ``GRADER_DATA_URL``, for a mirror) into that cache. Whatever the source, the file
must match the spec's sha256: the calibrated accuracy range holds only for that data.
"""
from __future__ import annotations

import os
import stat
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from grader.exceptions import DataUnavailable
from grader.util.files import sha256_fd, sha256_file

DOWNLOAD_TIMEOUT = 60.0  # seconds for the whole download of a few MB
MAX_DOWNLOAD_BYTES = 100 * 1024**2


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-grader"


def resolve(data: dict, explicit: Path | None = None, *, url: str | None = None,
            cache: Path | None = None, beside: Path | None = None) -> Path:
    """The path of a verified copy of ``data['file']``; raises ``DataUnavailable``.

    ``beside``: the notebook's folder (``grader check``): a student keeps the file there."""
    name, expected = data["file"], data["sha256"]
    for source, path in (("--data", explicit), ("GRADER_DATA", os.environ.get("GRADER_DATA"))):
        if path:
            return _verified(Path(path), name, expected, source)
    if beside is not None and (found := beside_notebook(Path(beside) / name, expected)):
        return found
    cache = cache or cache_dir()
    cached = cache / name
    if cached.is_file() and sha256_file(cached) == expected:
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
    if sha256_file(path) != expected:
        raise DataUnavailable(f"the data file given by {source} ({path}) is not the course's file: "
                              f"its sha256 differs from {expected[:12]}…")
    return path


MISSING = "there is no such file"


def why_unusable(path: Path, expected: str) -> str | None:
    """None when ``path`` is a regular file (opened without following a link) with the
    expected digest; else why not (``MISSING`` when nothing is there)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return MISSING
    except OSError as exc:  # a symbolic link (ELOOP), no permission, …
        return "it is a symbolic link" if os.path.islink(path) else (exc.strerror or str(exc))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "it is not a regular file"
        if sha256_fd(fd) != expected:
            return f"it is not the course's file (its sha256 differs from {expected[:12]}…)"
    finally:
        os.close(fd)
    return None


def beside_notebook(path: Path, expected: str) -> Path | None:
    """``path`` if usable (``why_unusable``); else ``None``, with a warning when something is
    there but cannot be used."""
    why = why_unusable(path, expected)
    if why is not None and why != MISSING:
        warnings.warn(f"{path} beside the notebook was not used: {why}", stacklevel=3)
    return path if why is None else None


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
        if sha256_file(Path(tmp)) != expected:
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
