"""Code injected into the student's kernel. Each module is plain, self-contained Python whose
source is sent to the kernel as a cell; nothing here is imported by the grader at run time."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def source(name: str, call: str) -> str:
    """The module's source followed by one call, as the text of a cell."""
    return (HERE / f"{name}.py").read_text() + "\n" + call + "\n"
