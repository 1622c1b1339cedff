"""Every Python process the grader starts outside the sandbox is isolated from the folders it
was started from (issue 22: a student's ``json.py`` beside a notebook was imported by the
verifier, as the grader's user).

Such a process runs ``python -I`` (no working folder, script folder, ``PYTHONPATH`` or user
site on ``sys.path``), in a working folder the grader owns, with a short list of environment
variables, and loads the package ``grader`` from where the parent's is (``grader.util.boot``).
``python_argv`` and ``child_env`` are for ``subprocess``; ``isolated_spawn`` does the same for
the children of a multiprocessing ``spawn`` context, which would otherwise inherit the parent's
working folder and ``sys.path`` (with ``''`` made absolute) and start without ``-I``.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing import process, spawn, util

from grader.util import boot

BOOT_SCRIPT = os.path.abspath(boot.__file__)
#: variables a child may need from the grader's environment (locale, temp, libraries, Keras);
#: everything else (secrets, PYTHON*, the grader's own settings) stays out
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "LD_LIBRARY_PATH",
              "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND", "KERAS_HOME", "XDG_CACHE_HOME",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: numeric-library knobs (threads, oneDNN, determinism) pass too: they can change the numbers
PASSED_PREFIXES = ("TF_", "XLA_", "OMP_", "MKL_", "KMP_", "OPENBLAS_")

_spawn_lock = threading.Lock()
#: what ``multiprocessing`` calls (as ``util.…``) for the interpreter flags of its children
FLAGS = "_args_from_interpreter_flags"


def python_argv(module: str, *args: str) -> list[str]:
    """The command that runs grader module ``module`` isolated (``python -I boot.py module``)."""
    return [sys.executable, "-I", BOOT_SCRIPT, module, *args]


def child_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The grader's environment reduced to ``PASSED_ENV`` and ``PASSED_PREFIXES``, plus ``extra``."""
    env = {key: value for key, value in os.environ.items()
           if key in PASSED_ENV or key.startswith(PASSED_PREFIXES)}
    env.update(extra)
    return env


def safe_sys_path(path: list[str], *folders: str | None) -> list[str]:
    """``path`` without ``''`` and the ``folders`` (working folders), however spelled."""
    drop = {os.path.realpath(f) for f in folders if f}
    return [p for p in path if p and os.path.realpath(p) not in drop]


@contextmanager
def isolated_spawn(workdir: str) -> Iterator[None]:
    """While open, processes started by a ``spawn`` context run ``python -I``, start in
    ``workdir``, get the parent's ``sys.path`` without its working folder, and run
    ``grader.util.boot`` as their main module instead of the parent's (a user's script is not
    run again; the grader is found where the parent's is). Start processes inside it, one
    thread at a time (it swaps two functions of ``multiprocessing`` for the duration)."""
    flags, prepare = getattr(util, FLAGS), spawn.get_preparation_data

    def isolated_flags() -> list[str]:
        found = flags()
        return found if "-I" in found else [*found, "-I"]

    def isolated_preparation(name: str) -> dict:
        data = prepare(name)
        data.pop("init_main_from_name", None)
        data.update(sys_path=safe_sys_path(data["sys_path"], os.getcwd(),
                                           getattr(process, "ORIGINAL_DIR", None)),
                    dir=workdir, init_main_from_path=BOOT_SCRIPT)
        return data

    with _spawn_lock:
        setattr(util, FLAGS, isolated_flags)
        spawn.get_preparation_data = isolated_preparation
        try:
            yield
        finally:
            setattr(util, FLAGS, flags)
            spawn.get_preparation_data = prepare
