"""The ``grader`` command's arguments (``grader.cli`` runs them): one function per command.

The README's usage block is checked against this parser (``tests/test_readme.py``)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader import __version__, api
from grader.render import writers
from grader.settings import Settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="the exercise's data file (else $GRADER_DATA, "
                   "the cache, or a download)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--exercise", metavar="NAME", help="the exercise to grade against: a "
                       "folder under reference/ or an exercise shipped in the package "
                       "(default: $GRADER_REFERENCE, else cnn2)")
    which.add_argument("--reference", type=Path, help="any reference folder with spec.json "
                       "(default: $GRADER_REFERENCE or the repository's reference/cnn2/)")
    p.add_argument("--timeout", type=float, default=Settings.notebook_timeout, metavar="SECONDS",
                   help="limit for executing the whole notebook (default %(default)g)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the verification training (structure checks only)")


def _formats(p: argparse.ArgumentParser, check: bool) -> None:
    """The same formats for both commands (``grader.render.writers``); ``check`` also gets a
    path flag per format. The writers are imported here, before any notebook runs: an
    unsandboxed notebook cannot swap a renderer on disk."""
    offered = writers.available()
    where = "each into DIR under its default name" if check else \
        f"besides {', '.join(writers.GRADE_DEFAULTS)}, which are always written"
    p.add_argument("--format", action="append", metavar="NAME[,NAME]",
                   help=f"also write these formats ({', '.join(offered)}), {where}")
    if check:
        p.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                       help="the folder for --format (default: the current folder)")
        for writer in offered.values():
            p.add_argument(writer.option, type=Path, metavar=writer.metavar, help=writer.help)
    p.add_argument("--gradescope-visibility", action="append", default=[],
                   metavar="[CATEGORY=]LEVEL",
                   help="Gradescope visibility of a check category (added_layer, architecture, "
                   "totals, training, grading) or of all: hidden, after_due_date, "
                   "after_published, visible (default: exercise.json's, else visible)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="grader", description="Grade students' Keras notebooks "
                                  "against an exercise's reference (default: cnn2).")
    top.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    _check(sub)
    _grade(sub)
    _reference(sub)
    sub.add_parser("doctor", help="what this machine offers the sandbox, the level grade "
                   "uses, and the commands that add what is missing")
    return top


def _check(sub) -> None:
    check = sub.add_parser("check", help="grade one notebook (students, Gradescope, CI)")
    check.add_argument("notebook", type=Path)
    _formats(check, check=True)
    check.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="auto")
    _common(check)


def _grade(sub) -> None:
    grade = sub.add_parser("grade", help="grade every notebook in a folder (instructors)")
    grade.add_argument("folder", type=Path)
    grade.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")
    grade.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="required")
    grade.add_argument("--workers", type=int, metavar="N",
                       help="parallel workers (default: what the cores and free memory allow)")
    grade.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       default=os.environ.get("GRADER_CLUSTER"),
                       help="grade on this Dask scheduler's workers (default: $GRADER_CLUSTER; "
                       "none: this machine)")
    grade.add_argument("--force", action="store_true",
                       help="regrade everything, even submissions already graded in DIR")
    grade.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report")
    grade.add_argument("--manual", type=Path, metavar="FILE",
                       help="merge a TA's CSV (student,question,points,comment) into DIR's "
                       "results; kept for later runs (docs/ta-workflow.md)")
    _formats(grade, check=False)
    grade.add_argument("--gradebook", choices=("canvas", "moodle"),
                       help="also write DIR/gradebook-SYSTEM.csv for the LMS's grade import")
    grade.add_argument("--roster", type=Path, metavar="FILE",
                       help="the class list exported from the LMS (Canvas: Grades → Export)")
    grade.add_argument("--roster-map", type=Path, metavar="FILE",
                       help="CSV of submission,student id pairs for names that are not LMS ids")
    grade.add_argument("--assignment", metavar="NAME",
                       help="the LMS assignment (default: the exercise's name)")
    _common(grade)


def _reference(sub) -> None:
    """The instructor's commands on a reference folder: spec, calibrate, data."""
    spec = sub.add_parser("spec", help="generate REFERENCE_DIR/spec.json from the solution "
                          "notebook")
    spec.add_argument("reference", type=Path, nargs="?")
    spec.add_argument("--data", type=Path)
    spec.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="auto")
    calibrate = sub.add_parser("calibrate", help="train the reference architecture over seeds "
                               "and write the accuracy range into spec.json")
    calibrate.add_argument("reference", type=Path, nargs="?")
    calibrate.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                           help="calibration seeds (default: the spec's, else 1..10)")
    calibrate.add_argument("--epochs", type=int, help="epochs (default: the spec's, else 1)")
    calibrate.add_argument("--batch-size", type=int, help="default: the spec's, else 128")
    calibrate.add_argument("--seed", type=int, help="the seed used when grading "
                           "(default: the first calibration seed)")
    calibrate.add_argument("--data", type=Path)
    data = sub.add_parser("data", help="find or download the data file, verify it, cache it")
    data.add_argument("--from", dest="source", type=Path, metavar="PATH",
                      help="copy this file into the cache (after checking its sha256)")
    data.add_argument("--reference", type=Path)
