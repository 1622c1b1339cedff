"""``grades.csv``: one row per student for a spreadsheet or an LMS gradebook import.

UTF-8 with a header row. Text that comes from students (ids are file names, check names may echo
their layers) is neutralised against CSV formula injection: a cell that a spreadsheet would read
as a formula gets a leading apostrophe, as OWASP recommends.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from grader.render import writers
from grader.render.files import write_text
from grader.result import Result

#: ``manual_pending``: the written questions a person has yet to grade (ids, ``;``-separated)
COLUMNS = ("student", "score", "max_score", "status", "first_failed", "manual_pending")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
GRADES_FILE = "grades.csv"


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text, never evaluates."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def first_problem(result: Result) -> str:
    """The first failed check, or why the notebook could not be graded."""
    failed = result.first_failed
    if failed is not None:
        return failed.name
    if result.error is not None:
        return f"{result.error.kind}: {result.error.message}"
    return ""


def row(result: Result) -> list[str]:
    return [safe_cell(result.submission), f"{result.score:g}", f"{result.max_score:g}",
            result.status.value, safe_cell(first_problem(result)),
            safe_cell(";".join(result.manual_pending))]


def grades_csv(results: list[Result]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row(r) for r in results)
    return buffer.getvalue()


def write_grades(results: list[Result], path: Path) -> Path:
    return write_text(Path(path), grades_csv(results))


WRITER = writers.register(writers.Writer(
    name="csv", help=f"write {GRADES_FILE} (a row per student) here", file_name=GRADES_FILE,
    course=lambda results, context: grades_csv(results)))
