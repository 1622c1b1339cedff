"""The class list an instructor exports from the LMS, and which submission belongs to whom.

Submissions are named by folder or file (``alice.ipynb``, ``s1234567/``); the LMS knows
students by its own ids. A roster row matches a submission when any of its ids (Canvas: ID,
SIS User ID, SIS Login ID; Moodle: ID number, email address, or the email's part before ``@``)
equals the submission name, case-insensitively, or when a mapping file (``submission,student``)
says so. Matching is only by ids, never by names: two students may share a name. Anything left
over on either side is reported by the caller, never dropped.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from grader.exceptions import UsageError

#: the columns of each LMS's export that identify a student, and those that must be present
ID_COLUMNS = {
    "canvas": ("SIS Login ID", "SIS User ID", "ID"),
    "moodle": ("ID number", "Email address"),
}
REQUIRED = {"canvas": ("ID", "SIS User ID", "SIS Login ID", "Section"),
            "moodle": ("ID number", "Email address")}
#: the name column: ``Student`` in Canvas's export, ``Student Name`` in older ones
NAME_COLUMNS = ("Student", "Student Name")
#: Canvas's export has this second row (points per assignment), not a student
POINTS_POSSIBLE = "Points Possible"
MAX_ROSTER_BYTES = 20 * 1024 * 1024


@dataclass
class Roster:
    system: str
    #: the export's header, in its order
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)

    def keys(self, row: dict[str, str]) -> set[str]:
        """Every id a submission may be named by, lower-cased."""
        return self.exact_keys(row) | self.local_keys(row)

    def exact_keys(self, row: dict[str, str]) -> set[str]:
        """The row's ids as written (lower-cased)."""
        return {v.lower() for v in self._values(row)}

    def local_keys(self, row: dict[str, str]) -> set[str]:
        """The part before ``@`` of the row's email-like ids (weaker than an exact id)."""
        return {v.split("@", 1)[0].lower() for v in self._values(row) if "@" in v}

    def _values(self, row: dict[str, str]) -> list[str]:
        return [v for v in ((row.get(c) or "").strip() for c in ID_COLUMNS[self.system]) if v]


def read_roster(path: Path, system: str) -> Roster:
    """The roster CSV as exported (UTF-8, a byte-order mark allowed); a clear error if it is
    not one, before any grading."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise UsageError(f"--roster {path}: larger than {MAX_ROSTER_BYTES // 2**20} MB")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --roster {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED[system] if c not in columns]
    if system == "canvas" and not any(c in columns for c in NAME_COLUMNS):
        missing.insert(0, "Student")
    if missing:
        raise UsageError(f"--roster {path} is not a {system} roster: no column "
                         f"{', '.join(repr(c) for c in missing)} (export it from {system})")
    rows = []
    for raw in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        if columns and row.get(columns[0], "") == POINTS_POSSIBLE:
            continue
        if any(row.values()):
            rows.append(row)
    return Roster(system, columns, rows)


def read_mapping(path: Path | None) -> dict[str, str]:
    """``submission,student`` per line (a header line naming them is allowed), lower-cased."""
    if path is None:
        return {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --roster-map {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    pairs = [row for row in csv.reader(lines) if len(row) >= 2 and row[0].strip()]
    if pairs and [c.strip().lower() for c in pairs[0][:2]] == ["submission", "student"]:
        pairs = pairs[1:]
    return {a.strip().lower(): b.strip().lower() for a, b, *_ in pairs}


@dataclass
class Matching:
    #: roster row index → submission name
    matched: dict[int, str]
    #: roster rows with no submission, and submissions with no roster row
    no_submission: list[int]
    no_roster: list[str]


def match(roster: Roster, submissions: list[str], mapping: dict[str, str]) -> Matching:
    """Pair submissions with roster rows by id (the mapping first); one row per submission.

    An exact id wins over an email's part before ``@``; a key that names several rows at the
    same strength is ambiguous and matches none (the submission is listed as unmatched), so a
    grade never goes to the first of two students who share, e.g., ``jsmith@…``."""
    exact: dict[str, set[int]] = {}
    local: dict[str, set[int]] = {}
    for k, row in enumerate(roster.rows):
        for key in roster.exact_keys(row):
            exact.setdefault(key, set()).add(k)
        for key in roster.local_keys(row):
            local.setdefault(key, set()).add(k)
    matched: dict[int, str] = {}
    no_roster = []
    for name in submissions:
        key = mapping.get(name.lower(), name.lower())
        rows = exact.get(key) or local.get(key) or set()
        only = next(iter(rows)) if len(rows) == 1 else None
        if only is None or only in matched:
            no_roster.append(name)
        else:
            matched[only] = name
    no_submission = [k for k in range(len(roster.rows)) if k not in matched]
    return Matching(matched, no_submission, no_roster)
