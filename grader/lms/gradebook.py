"""Gradebook files an LMS imports as they are: Canvas's gradebook CSV and Moodle's grade import.

Canvas (Grades → Import) reads its own export's layout: ``Student, ID, SIS User ID, SIS Login
ID, Section`` then one column per assignment headed ``<name> (<assignment id>)``; the export's
second row, ``Points Possible``, is kept. The identity columns are copied from the roster the
instructor exported, so Canvas finds each student by its own ids. Moodle (Grades → Import →
CSV file) maps a user column (``ID number`` → useridnumber, ``Email address`` → useremail) and
a grade column, and optionally a feedback column, chosen on its import page.

A roster student without a submission keeps an empty grade (Canvas and Moodle leave an empty
cell unchanged) and a submission without a roster row gets no line: both are listed in
``gradebook-unmatched.csv`` and on stderr, never dropped silently. Every cell that comes from a
student or a roster goes through ``csv_out.safe_cell``, the guard ``grades.csv`` uses.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from grader.exceptions import UsageError
from grader.lms.roster import (
    ID_COLUMNS,
    NAME_COLUMNS,
    Matching,
    Roster,
    match,
    read_mapping,
    read_roster,
)
from grader.render import origin
from grader.render.csv_out import safe_cell
from grader.render.files import write_text
from grader.result import GRADER_FAULTS, Result
from grader.util.text import plain

SYSTEMS = ("canvas", "moodle", "gradescope")
UNMATCHED_FILE = "gradebook-unmatched.csv"
CANVAS_IDENTITY = ("ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_ROW = "    Points Possible"
MOODLE_USER = ("First name", "Last name", "ID number", "Email address")


@dataclass
class GradebookOptions:
    """``--gradebook SYSTEM [--roster FILE] [--roster-map FILE] [--assignment NAME]``."""

    system: str
    roster: Path | None = None
    mapping: Path | None = None
    assignment: str | None = None

    def file_name(self) -> str:
        return f"gradebook-{self.system}.csv"


def load(options: GradebookOptions) -> tuple[Roster | None, dict[str, str]]:
    """Read the roster and mapping up front, so a bad file stops the batch before grading."""
    if options.system == "canvas" and options.roster is None:
        raise UsageError("--gradebook canvas needs --roster FILE: the gradebook exported from "
                         "Canvas (Grades → Export), whose ids Canvas matches on import")
    roster = read_roster(options.roster, options.system) if options.roster else None
    return roster, read_mapping(options.mapping)


def grade_cell(result: Result | None) -> str:
    """The points, or empty: no submission, or the grader's own fault (regrade, not zero)."""
    if result is None or (result.error is not None and result.error.kind in GRADER_FAULTS):
        return ""
    return f"{origin.final_score(result):g}"


def feedback(result: Result | None) -> str:
    if result is None:
        return ""
    late = result.late or {}
    when = f" (submitted {late['submitted_at']})" if late.get("submitted_at") else ""
    deducted = f" Late{when}: -{late['points']:g} ({late['rule']})." if late.get("late") else ""
    return safe_cell(f"{result.score:g}/{result.max_score:g}: {result.summary}{deducted}".strip())


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def canvas_column(roster: Roster, assignment: str | None, default: str) -> str:
    """The roster's own ``<name> (<id>)`` header for ``assignment`` (or, with no name given, its
    only assignment column), so Canvas updates that assignment; else the bare name, for which
    Canvas offers to create a new assignment."""
    if assignment is None:
        columns = [c for c in roster.columns if re.fullmatch(r".+ \(\d+\)", c)]
        return columns[0] if len(columns) == 1 else default
    pattern = re.compile(re.escape(assignment) + r" \(\d+\)")
    return next((c for c in roster.columns if c == assignment or pattern.fullmatch(c)), assignment)


def canvas_csv(results: dict[str, Result], roster: Roster, matching: Matching,
               column: str) -> str:
    name_column = next(c for c in NAME_COLUMNS if c in roster.columns)
    max_score = max((r.max_score for r in results.values()), default=0.0)
    rows = [[name_column, *CANVAS_IDENTITY, column],
            [POINTS_ROW, *[""] * len(CANVAS_IDENTITY), f"{max_score:g}"]]
    for k, row in enumerate(roster.rows):
        result = results.get(matching.matched.get(k, ""))
        rows.append([safe_cell(row.get(c, "")) for c in (name_column, *CANVAS_IDENTITY)]
                    + [grade_cell(result)])
    return _csv(rows)


def moodle_csv(results: dict[str, Result], roster: Roster | None, matching: Matching | None,
               assignment: str) -> str:
    """Without a roster, the submission names are taken as Moodle ID numbers."""
    rows = [[*MOODLE_USER, assignment, "Feedback"]]
    if roster is None:
        for name, result in results.items():
            rows.append(["", "", safe_cell(name), "", grade_cell(result), feedback(result)])
        return _csv(rows)
    assert matching is not None  # made with the roster
    for k, row in enumerate(roster.rows):
        found = results.get(matching.matched.get(k, ""))
        rows.append([safe_cell(row.get(c, "")) for c in MOODLE_USER]
                    + [grade_cell(found), feedback(found)])
    return _csv(rows)


def worksheet_csv(results: dict[str, Result], roster: Roster, matching: Matching) -> str:
    """Moodle's grading worksheet as downloaded, its ``Grade`` (and ``Feedback comments``, when
    the assignment has them) filled in: Moodle's "Upload grading worksheet" matches on
    ``Identifier``."""
    rows = [list(roster.columns)]
    for k, row in enumerate(roster.rows):
        result = results.get(matching.matched.get(k, ""))
        cells = dict(row)
        if result is not None:
            cells["Grade"] = grade_cell(result)
            if "Feedback comments" in roster.columns:
                cells["Feedback comments"] = feedback(result)
        rows.append([safe_cell(cells.get(c, "")) for c in roster.columns])
    return _csv(rows)


def gradescope_csv(results: dict[str, Result], roster: Roster | None,
                   matching: Matching | None) -> str:
    """``Name, SID, Email, Score``: Gradescope's score upload matches a row by Email (or SID).
    Without a roster, every submitter of a group submission gets the group's score."""
    rows = [["Name", "SID", "Email", "Score"]]
    if roster is None or matching is None:
        for graded in results.values():
            people = (graded.origin or {}).get("submitters") or [
                {"name": (graded.origin or {}).get("name") or "", "sid": "", "email": ""}]
            rows += [[safe_cell(p.get(c) or "") for c in ("name", "sid", "email")]
                     + [grade_cell(graded)] for p in people]
        return _csv(rows)
    for k, row in enumerate(roster.rows):
        result = results.get(matching.matched.get(k, ""))
        name = row.get("Name") or " ".join(row.get(c, "") for c in ("First Name", "Last Name"))
        rows.append([safe_cell(name.strip()), safe_cell(row.get("SID", "")),
                     safe_cell(row.get("Email", "")), grade_cell(result)])
    return _csv(rows)


def unmatched_csv(roster: Roster | None, matching: Matching | None) -> str:
    """``problem, submission, student, ids``: one line per roster row or submission left over."""
    rows = [["problem", "submission", "student", "ids"]]
    if roster is not None and matching is not None:
        for k in matching.no_submission:
            row = roster.rows[k]
            name = " ".join(row.get(c, "") for c in (*NAME_COLUMNS, *MOODLE_USER[:2]) if row.get(c))
            ids = " / ".join(row[c] for c in ID_COLUMNS[roster.system] if row.get(c))
            rows.append(["in the roster, no submission", "", safe_cell(name), safe_cell(ids)])
        rows += [[safe_cell(f"submission, not matched: {matching.reasons[name]}"
                            if name in matching.reasons else "submission, not in the roster"),
                  safe_cell(name), "", ""] for name in matching.no_roster]
    return _csv(rows)


def lms_keys(results: list[Result]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """What else an LMS export says of each submission's student: other ids (Gradescope's
    email and SID) and, for Moodle (whose file names carry a name and a participant id only),
    the full name, used only where no id matches and only when one roster row has it."""
    aliases: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for r in results:
        o = r.origin or {}
        aliases[r.submission] = [str(o[k]) for k in ("id", "sid", "email") if o.get(k)]
        if o.get("layout") in ("moodle", "gradescope") and o.get("name"):
            names[r.submission] = str(o["name"])
    return aliases, names


def write_gradebook(results: list[Result], out: Path, options: GradebookOptions,
                    assignment: str) -> list[str]:
    """Write the LMS file and the unmatched list into ``out``; returns the lines for stderr."""
    roster, mapping = load(options)
    by_name = {r.submission: r for r in results}
    matching = match(roster, list(by_name), mapping, *lms_keys(results)) \
        if roster is not None else None
    if options.system == "canvas":
        assert roster is not None and matching is not None  # load() requires Canvas's roster
        column = canvas_column(roster, options.assignment, assignment)
        text = canvas_csv(by_name, roster, matching, column)
    elif options.system == "gradescope":
        text = gradescope_csv(by_name, roster, matching)
    elif roster is not None and matching is not None and roster.worksheet:
        text = worksheet_csv(by_name, roster, matching)
    else:
        text = moodle_csv(by_name, roster, matching, options.assignment or assignment)
    write_text(Path(out) / options.file_name(), text)
    write_text(Path(out) / UNMATCHED_FILE, unmatched_csv(roster, matching))
    lines = [f"grader: wrote {Path(out) / options.file_name()} for {options.system}"]
    if matching is not None and (matching.no_submission or matching.no_roster):
        lines.append(f"grader: gradebook: {len(matching.no_submission)} roster student(s) without "
                     f"a submission, {len(matching.no_roster)} submission(s) not in the roster "
                     f"(listed in {Path(out) / UNMATCHED_FILE}): "
                     + ", ".join(plain(name) for name in matching.no_roster[:10]))
    return lines
