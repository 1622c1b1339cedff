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
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.exceptions import UsageError

#: Moodle's grading worksheet (Assignment → Download grading worksheet): ``Identifier`` holds
#: ``Participant <participant id>``, the number in the names of the submission download
WORKSHEET_ID = "Identifier"
WORKSHEET_NAME = "Full name"
WORKSHEET_REQUIRED = (WORKSHEET_ID, WORKSHEET_NAME, "Grade")

#: the columns of each LMS's export that identify a student, and those that must be present
ID_COLUMNS = {
    "canvas": ("SIS Login ID", "SIS User ID", "ID"),
    "moodle": ("ID number", "Email address", WORKSHEET_ID),
    "gradescope": ("SID", "Email"),
}
REQUIRED = {"canvas": ("ID", "SIS User ID", "SIS Login ID", "Section"),
            "moodle": ("ID number", "Email address"),
            "gradescope": ("Email",)}
#: the name column: ``Student`` in Canvas's export, ``Student Name`` in older ones
NAME_COLUMNS = ("Student", "Student Name")
#: full-name columns, for matching by name where an export carries no id (Moodle flat files)
FULL_NAME_COLUMNS = (*NAME_COLUMNS, WORKSHEET_NAME, "Name")
FIRST_LAST = (("First name", "Last name"), ("First Name", "Last Name"))
#: Canvas's export has this second row (points per assignment), not a student
POINTS_POSSIBLE = "Points Possible"
MAX_ROSTER_BYTES = 20 * 1024 * 1024


@dataclass
class Roster:
    system: str
    #: the export's header, in its order
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def worksheet(self) -> bool:
        """Moodle's grading worksheet (rather than the gradebook export)."""
        return self.system == "moodle" and WORKSHEET_ID in self.columns

    def name_key(self, row: dict[str, str]) -> str:
        """The row's full name, case-folded and single-spaced ('' if none)."""
        name = next((row[c] for c in FULL_NAME_COLUMNS if row.get(c)), "") or " ".join(
            row.get(c, "") for pair in FIRST_LAST for c in pair if row.get(c))
        return " ".join(name.split()).casefold()

    def keys(self, row: dict[str, str]) -> set[str]:
        """Every id a submission may be named by, lower-cased."""
        return self.exact_keys(row) | self.local_keys(row)

    def exact_keys(self, row: dict[str, str]) -> set[str]:
        """The row's ids as written (lower-cased)."""
        return {v.lower() for v in self.ids(row)}

    def local_keys(self, row: dict[str, str]) -> set[str]:
        """The part before ``@`` of the row's email-like ids (weaker than an exact id)."""
        return {v.split("@", 1)[0].lower() for v in self._values(row) if "@" in v}

    def ids(self, row: dict[str, str]) -> list[str]:
        """The row's ids as written (a worksheet's ``Participant 123`` also as ``123``)."""
        values = self._values(row)
        number = re.fullmatch(r"Participant (\d+)", (row.get(WORKSHEET_ID) or "").strip())
        return values + [number.group(1)] if number else values

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
    need = WORKSHEET_REQUIRED if system == "moodle" and WORKSHEET_ID in columns else REQUIRED[system]
    missing = [c for c in need if c not in columns]
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
    #: why a submission in ``no_roster`` is there, when it is not simply absent from the roster
    reasons: dict[str, str] = field(default_factory=dict)


#: how a submission found its roster row, strongest first
EXACT, FOLDED, LOCAL, ALIAS, NAME = range(5)
STRENGTH = ("its id exactly", "its id (case aside)", "an email's user name", "its LMS email/SID",
            "its name")


def _index(roster: Roster) -> list[dict[str, set[int]]]:
    """Lookup tables by strength: id as written, id case-folded, email user part, -, name."""
    tables: list[dict[str, set[int]]] = [{} for _ in STRENGTH]
    for k, row in enumerate(roster.rows):
        for value in roster.ids(row):
            tables[EXACT].setdefault(value, set()).add(k)
            tables[FOLDED].setdefault(value.casefold(), set()).add(k)
        for key in roster.local_keys(row):
            tables[LOCAL].setdefault(key.casefold(), set()).add(k)
        if name := roster.name_key(row):
            tables[NAME].setdefault(name, set()).add(k)
    return tables


def _lookups(name: str, mapping: dict[str, str], aliases: list[str],
             full_name: str | None) -> list[tuple[int, int, str]]:
    """(strength, table, key) to try for one submission, strongest first."""
    key = mapping.get(name.lower(), name)
    tries = [(EXACT, EXACT, key), (FOLDED, FOLDED, key.casefold()), (LOCAL, LOCAL, key.casefold())]
    for alias in aliases:
        tries += [(ALIAS, EXACT, alias), (ALIAS, FOLDED, alias.casefold())]
    if full_name:
        tries.append((NAME, NAME, " ".join(full_name.split()).casefold()))
    return tries


def match(roster: Roster, submissions: list[str], mapping: dict[str, str],
          aliases: dict[str, list[str]] | None = None,
          names: dict[str, str] | None = None) -> Matching:
    """Pair submissions with roster rows by id (the mapping first), exact before case-folded
    before an email's user name before the LMS's other ids (``aliases``) before a full name
    (``names``: only where an export carries no id); one row per submission.

    A key that names several rows at its strength is ambiguous and matches none; several
    submissions that find one row at the same strength (``Alice`` and ``alice`` for the id
    ``ALICE``) all stay unmatched, each with its reason: a grade never goes to the first of two."""
    tables = _index(roster)
    claims: dict[int, list[tuple[int, str]]] = {}
    reasons: dict[str, str] = {}
    for name in submissions:
        for strength, table, key in _lookups(name, mapping, (aliases or {}).get(name, []),
                                             (names or {}).get(name)):
            rows = tables[table].get(key, set())
            if len(rows) == 1:
                claims.setdefault(next(iter(rows)), []).append((strength, name))
                break
            if len(rows) > 1:
                reasons[name] = f"{STRENGTH[strength]} fits {len(rows)} roster students"
                break
    matched: dict[int, str] = {}
    for k, found in claims.items():
        best = min(s for s, _ in found)
        winners = [n for s, n in found if s == best]
        if len(winners) == 1:
            matched[k] = winners[0]
        for strength, name in found:
            if name in winners and len(winners) > 1:
                others = ", ".join(w for w in winners if w != name)
                reasons[name] = f"ambiguous: {others} also match(es) the same roster student by " \
                    f"{STRENGTH[strength]}"
            elif name not in winners:
                reasons[name] = f"its roster student is matched by {winners[0]} ({STRENGTH[best]})"
    taken = set(matched.values())
    no_roster = [n for n in submissions if n not in taken]
    no_submission = [k for k in range(len(roster.rows)) if k not in matched]
    return Matching(matched, no_submission, no_roster, reasons)
