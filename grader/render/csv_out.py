"""``grades.csv``: one row per student for a spreadsheet or an LMS gradebook import.

UTF-8 with a header row; a check kind may add a column with its points (``csv_column``).
Text that comes from students (ids are file names, check names may echo
their layers) is neutralised against CSV formula injection: a cell that a spreadsheet would read
as a formula gets a leading apostrophe, as OWASP recommends.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from grader.checks import registry
from grader.render import origin, review, writers
from grader.render.files import write_text
from grader.result import Result

#: ``manual_pending``: the written questions a person has yet to grade (ids, ``;``-separated)
COLUMNS = ("student", "score", "max_score", "status", "first_failed", "review", "manual_pending")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
GRADES_FILE = "grades.csv"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # tab and newline: see FORMULA_START


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text, never evaluates; no control character inside."""
    text = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return "'" + text if text.startswith(FORMULA_START) else text


def first_problem(result: Result) -> str:
    """The first failed check, or why the notebook could not be graded."""
    failed = result.first_failed
    if failed is not None:
        return failed.name
    if result.error is not None:
        return f"{result.error.kind}: {result.error.message}"
    return ""


def kind_columns() -> list[tuple[str, str]]:
    """(column, check category) of each registered check kind that asks for a column."""
    return [(k.csv_column, k.category) for k in registry.kinds().values() if k.csv_column]


def row(result: Result, columns: list[tuple[str, str]] | None = None,
        lms: bool = False) -> list[str]:
    own = [f"{sum(c.points for c in result.checks if c.category == category):g}"
           for _, category in columns or []]
    cells = [safe_cell(result.submission), f"{result.score:g}", f"{result.max_score:g}",
             result.status.value, safe_cell(first_problem(result)),
             safe_cell(review.short(result.review, limit=10)),
             safe_cell(";".join(result.manual_pending)), *own]
    return cells + [safe_cell(c) for c in origin.cells(result)] if lms else cells


def grades_csv(results: list[Result]) -> str:
    """``score`` is what was earned; from an LMS export, ``late_penalty`` and ``final_score``
    (what a gradebook imports) follow with the original file name and the late flag/time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lms = origin.has_origin(results)
    columns = kind_columns()
    writer.writerow([*COLUMNS, *(name for name, _ in columns), *(origin.COLUMNS if lms else ())])
    writer.writerows(row(r, columns, lms) for r in results)
    return buffer.getvalue()


def write_grades(results: list[Result], path: Path) -> Path:
    return write_text(Path(path), grades_csv(results))


WRITER = writers.register(writers.Writer(
    name="csv", help=f"write {GRADES_FILE} (a row per student) here", file_name=GRADES_FILE,
    course=lambda results, context: grades_csv(results)))
