"""Roster files as Canvas and Moodle export them (column layouts from their documentation), for
the sample submissions: built here, never copied from a real class.

Canvas (Grades → Export): ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column
per assignment ``<name> (<id>)`` and read-only totals, and a second row ``Points Possible``.
Moodle (Grades → Export → Plain text file): ``First name, Last name, ID number, Institution,
Department, Email address``, then one column per grade item.
"""
from __future__ import annotations

import csv
from pathlib import Path

#: (name, canvas id, SIS user id, login/email local part); the last two have no submission
STUDENTS = [("Alice Solution", "101", "S1001", "alice_solution"),
            ("Bob No-Padding", "102", "S1002", "bob_no_padding"),
            ("Carol No-Pooling", "103", "S1003", "carol_no_pooling"),
            ("=HYPERLINK(\"http://x\")", "104", "S1004", "dave_32_filters"),
            ("Zoe Absent", "199", "S1999", "zoe_absent")]
ASSIGNMENT = "CNN exercise"
ASSIGNMENT_ID = "4711"


def canvas_roster(path: Path, students=STUDENTS) -> Path:
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
             f"{ASSIGNMENT} ({ASSIGNMENT_ID})", "Current Score", "Final Score"],
            ["    Points Possible", "", "", "", "", "22", "(read only)", "(read only)"]]
    rows += [[name, cid, sis, login, "Section A", "", "", ""] for name, cid, sis, login in students]
    return _write(path, rows, bom=True)


def moodle_roster(path: Path, students=STUDENTS) -> Path:
    rows = [["First name", "Last name", "ID number", "Institution", "Department", "Email address",
             f"Assignment: {ASSIGNMENT} (Real)", "Last downloaded from this course"]]
    for name, _cid, sis, login in students:
        first, _, last = name.partition(" ")
        rows.append([first, last, sis, "Uni", "CS", f"{login}@example.edu", "-", "1764000000"])
    return _write(path, rows)


def _write(path: Path, rows: list[list[str]], bom: bool = False) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f).writerows(rows)
    return Path(path)
