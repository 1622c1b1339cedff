"""The static scan of a submission: flags code that tampers with the grading environment.

It reads the code cells of the notebook bytes the grader already has, on the grader's side and
before the kernel runs (nothing the notebook does can change it), and never executes them:
IPython magics and shell lines are reduced to the Python they run (``%time f()`` → ``f()``)
or to ``pass``; a cell that is still not Python is skipped. What it looks for is in
``grader.intake.scan_rules``. Findings go to ``Result.review`` as entries
``{"source": "scan", "cell_index", "line", "code", "message"}``: a flag for a person, never a
change of status or score (a forged model is charged by the cross-check, not here).
"""
from __future__ import annotations

import ast
import json
import re

from grader.intake.scan_patterns import Finding
from grader.intake.scan_rules import Scanner

SOURCE = "scan"
#: cell magics whose body is Python the kernel runs (``%%writefile x.py`` is run when imported)
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_TIMED = re.compile(r"^(\s*)%(?:time|timeit|prun)\b((?:\s+-\w+(?:\s+\d+)?)*)\s*(.*)$")
_ASSIGNED = re.compile(r"^(\s*[\w.\[\], ]+=\s*)[!%].*$")
_MAGIC = re.compile(r"^(\s*)[!%?].*$")
_HELP = re.compile(r"^(.*?)\?{1,2}\s*$")


def scan_notebook(data: bytes) -> list[dict]:
    """Review entries for the notebook ``data`` (empty when nothing is flagged, or when the bytes
    are not a notebook at all: intake reports that)."""
    try:
        cells = json.loads(data.decode("utf-8")).get("cells", [])
    except (ValueError, UnicodeDecodeError, AttributeError):
        return []
    return scan_cells([_source(cell) if isinstance(cell, dict) and cell.get("cell_type") == "code"
                       else None for cell in cells])


def scan_cells(sources: list[str | None]) -> list[dict]:
    """Review entries for cells given as sources (``None`` for a cell that is not code); cell
    numbers count every cell from 1, as the report's error messages do."""
    scanner, review, seen = Scanner(), [], set()
    for index, source in enumerate(sources, start=1):
        try:
            tree = _parse(source) if source else None
            if tree is None:
                continue
            findings = scanner.scan(tree)
        except (RecursionError, MemoryError):  # too deep to parse or walk: a person should look
            findings = [Finding(1, "unscannable", "this cell is nested too deeply to be scanned")]
        for finding in findings:
            key = (index, finding.line, finding.code)
            if key not in seen:
                seen.add(key)
                review.append({"source": SOURCE, "cell_index": index, "line": finding.line,
                               "code": finding.code, "message": finding.message})
    return review


def python_of(source: str) -> str | None:
    """The Python a cell runs, line for line (line numbers kept); None for a cell magic whose
    body is not Python (``%%bash``)."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        magic = words[0] if words else ""
        python_file = magic in ("writefile", "file") and bool(words[1:]) and words[-1].endswith(".py")
        if magic not in PYTHON_CELL_MAGICS and not python_file:
            return None
        lines[first] = ""
    return "\n".join(_line(line) for line in lines)


def _line(line: str) -> str:
    if m := _TIMED.match(line):
        return m.group(1) + m.group(3)
    if m := _ASSIGNED.match(line):
        return m.group(1) + "None"
    if m := _MAGIC.match(line):
        return m.group(1) + "pass"
    if (m := _HELP.match(line)) and not line.lstrip().startswith("#"):
        return m.group(1)
    return line


def _parse(source: str) -> ast.AST | None:
    """The cell's syntax tree: as written, else with magics reduced (``python_of``), else as
    IPython itself would transform it; None when none is Python (it fails in the kernel too).
    Trying the plain text first means that a line merely looking like a magic (a ``%``
    continuation line) cannot make a cell unscannable."""
    for attempt in (lambda: source, lambda: python_of(source), lambda: _ipython_of(source)):
        python = attempt()
        if python is None:
            continue
        try:
            return ast.parse(python)
        except (SyntaxError, ValueError):
            continue
    return None


def _ipython_of(source: str) -> str | None:
    """IPython's own translation of a cell (string work only, nothing runs); None without it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # a student's plain install: the grading side has IPython
        return None
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # IPython refuses it: not a cell the kernel runs either
        return None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)
