"""Auto-grader for the cnn2 MNIST exercise (and any exercise with a reference folder).

Library first: ``check`` grades one notebook, ``grade`` a folder, ``generate_spec`` writes a
reference spec. The ``grader`` command is a thin layer over these.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .api import check, generate_spec  # noqa: E402
from .exitcodes import ExitCode  # noqa: E402
from .result import Check, ErrorInfo, Result, Status  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["check", "generate_spec", "ExitCode", "Check", "ErrorInfo", "Result", "Status",
           "Settings", "__version__"]
