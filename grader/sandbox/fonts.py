"""Matplotlib's font list, built once by the grader and copied into every kernel's home.

Every kernel starts with an empty private home, so matplotlib (imported by Keras itself, and by
the course's notebooks) scanned the machine's fonts and wrote its font list anew in every
kernel: about a quarter of a CPU-second each, measured 2026-12-06 (``docs/performance.md``).
The grader builds that list once per matplotlib version, in a Python process of its own started
isolated (``python -I`` in an empty temporary folder: no file of a student or of the folder the
grader runs in is on its path), keeps it under the user's cache
(``cache_dir()/fonts/<matplotlib version>``), and gives each kernel a *copy* in its home, so
that what one kernel does to it reaches no other.

It is an optimisation only: a list that is missing, unreadable, stale or of another matplotlib
version costs the kernel the scan it always did (matplotlib checks the version inside the file
and rebuilds it), and a grader that cannot build or keep one gives none.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from grader.util.isolation import child_env
from grader.util.versions import package_versions

#: matplotlib's configuration folder inside a kernel's home (``MPLCONFIGDIR``)
MPL_DIR = ".mpl"
#: how long building the list may take (it imports matplotlib: ~1 s)
BUILD_TIMEOUT = 120.0
#: a font list is a few hundred KB; anything far larger is not one
MAX_BYTES = 20 * 1024**2


def home_files() -> list[tuple[Path, str]]:
    """``(file, path inside the kernel's home)`` for each file a kernel's home starts with."""
    found = font_list()
    return [] if found is None else [(found, f"{MPL_DIR}/{found.name}")]


def seed_home(home: str | os.PathLike) -> None:
    """Copy ``home_files()`` into a kernel's ``home`` (a kernel started without a sandbox)."""
    for source, relative in home_files():
        target = Path(home) / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        except OSError:
            pass  # the kernel scans the fonts itself, as it would without the copy


@lru_cache(maxsize=1)
def font_list() -> Path | None:
    """The kept font list of the installed matplotlib, built now if there is none; None where
    matplotlib is not installed or no list can be built or kept. Once per process."""
    version = package_versions("matplotlib")["matplotlib"]
    if version is None:
        return None
    try:
        from grader.intake.data import cache_dir

        folder = cache_dir() / "fonts" / version
    except (RuntimeError, KeyError, OSError):  # no home folder to find (a bare service account)
        return None
    return _kept(folder) or _build(folder)


def _kept(folder: Path) -> Path | None:
    """The list in ``folder`` if there is one that reads as a font list."""
    try:
        candidates = sorted(folder.glob("fontlist-*.json"))
    except OSError:
        return None
    for path in reversed(candidates):
        if _readable(path):
            return path
    return None


def _readable(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        found = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(found, dict) and "_version" in found


def _build(folder: Path) -> Path | None:
    """Import matplotlib's font manager in an isolated child with an empty configuration
    folder, and keep the list it writes (renamed into place: concurrent builders both win)."""
    scratch = tempfile.mkdtemp(prefix="grader-fonts-")
    try:
        env = child_env({"MPLCONFIGDIR": scratch, "HOME": scratch, "MPLBACKEND": "agg"})
        subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                       cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=BUILD_TIMEOUT, check=True)
        built = _kept(Path(scratch))
        if built is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{built.name}.{os.getpid()}.tmp"
        shutil.copyfile(built, temporary)
        os.replace(temporary, folder / built.name)
        return folder / built.name
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
