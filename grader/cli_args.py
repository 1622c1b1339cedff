"""The ``grader`` command's arguments (``grader.cli`` runs them): one parser per command, its
options from the declare-once table ``grader.options``; only the positionals are here.

The README's usage block is checked against this parser (``tests/test_readme.py``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from grader import __version__, options
from grader.batch import executor
from grader.render import writers


def parser() -> argparse.ArgumentParser:
    # the plugins first: their modules declare their own options (and are imported here,
    # before any notebook runs: an unsandboxed notebook cannot swap a renderer on disk)
    offered = writers.available()
    executor.available()
    top = argparse.ArgumentParser(prog="grader", description="Grade students' Keras notebooks "
                                  "against an exercise's reference (default: cnn2).")
    top.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    formats = ", ".join(offered)
    check = sub.add_parser("check", help="grade one notebook (students, Gradescope, CI)")
    check.add_argument("notebook", type=Path, help="the student's .ipynb to grade")
    options.add_options(check, options.CHECK, formats=formats,
                        where="each into DIR under its default name")
    for writer in offered.values():  # a path flag per format: --json FILE, --report FILE, …
        check.add_argument(writer.option, type=Path, metavar=writer.metavar, help=writer.help)
    grade = sub.add_parser("grade", help="grade every notebook in a folder or an LMS's zip "
                           "(instructors)")
    grade.add_argument("folder", type=Path, help="a folder, or the LMS's download-all zip")
    options.add_options(grade, options.GRADE, formats=formats, where=f"besides "
                        f"{', '.join(writers.GRADE_DEFAULTS)}, which are always written")
    _reference(sub)
    sub.add_parser("doctor", help="what this machine offers the sandbox, the level grade "
                   "uses, and the commands that add what is missing")
    return top


def _reference(sub) -> None:
    """The instructor's commands on a reference folder: spec, calibrate, data."""
    spec = sub.add_parser("spec", help="generate REFERENCE_DIR/spec.json from the solution "
                          "notebook")
    spec.add_argument("reference", type=Path, nargs="?",
                      help="the exercise's reference folder (default: the default exercise, cnn2)")
    options.add_options(spec, options.SPEC)
    calibrate = sub.add_parser("calibrate", help="train the reference architecture over seeds "
                               "and write the accuracy range into spec.json")
    calibrate.add_argument("reference", type=Path, nargs="?",
                           help="the exercise's reference folder (default: the default exercise, cnn2)")
    options.add_options(calibrate, options.CALIBRATE)
    trained = sub.add_parser("baselines", help="train the exercise's declared reference models "
                             "(its baselines) and write baselines.json beside spec.json")
    trained.add_argument("reference", type=Path, nargs="?",
                         help="the exercise's reference folder (default: the default exercise, cnn2)")
    options.add_options(trained, options.BASELINES)
    data = sub.add_parser("data", help="find or download the data file, verify it, cache it")
    options.add_options(data, options.DATA)
