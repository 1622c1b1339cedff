"""Auto-grader for the cnn2 MNIST exercise (and any exercise with a reference folder).

Library first: ``check`` grades one notebook, ``grade`` a folder, ``generate_spec`` writes a
reference spec. The ``grader`` command is a thin layer over these. ``grader.notebook.check`` is
the student's instant self-check inside a notebook (``%load_ext grader`` adds ``%grader_check``).

The grading API is imported lazily: a student's ``pip install cnn-grader`` (without the
``[grade]`` extra) has no nbclient or TensorFlow of its own, and ``import grader.notebook``
must work there with the Keras the student already has.
"""
from __future__ import annotations

import os as _os
import sys as _sys


def _drop_working_folder() -> None:
    """``python -m grader`` put the working folder first on ``sys.path`` (where an instructor
    runs ``grader grade .``, among the students' files): drop it before anything else is
    imported, so that a ``json.py`` there is never imported. Only while ``-m`` is locating a
    module (``sys.argv[0] == "-m"``); the package itself is found already."""
    if _sys.argv[:1] != ["-m"] or getattr(_sys.flags, "safe_path", False) or not _sys.path:
        return
    try:
        here = _os.path.realpath(_os.getcwd())
    except OSError:  # a working folder that is gone
        here = None
    if _sys.path[0] == "" or _os.path.realpath(_sys.path[0]) == here:
        del _sys.path[0]


_drop_working_folder()

__version__ = "0.2.0"

from grader.exitcodes import ExitCode  # noqa: E402
from grader.result import Check, ErrorInfo, Result, Status  # noqa: E402
from grader.settings import Settings  # noqa: E402

__all__ = ["check", "generate_spec", "ExitCode", "Check", "ErrorInfo", "Result", "Status",
           "Settings", "__version__"]
_LAZY = {"check", "generate_spec"}


def __getattr__(name: str):
    """``grader.check``/``grader.generate_spec`` import the grading machinery on first use."""
    if name in _LAZY:
        from grader import api
        return getattr(api, name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    """``%load_ext grader``: registers ``%grader_check`` (see ``grader.notebook``)."""
    from grader.notebook import register
    register(ipython)
