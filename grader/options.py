"""Every command-line option, declared once: its flag, help, type, default, environment variable,
the commands that have it and the ``Settings`` field it fills.

From this table follow the argparse parsers (``grader.cli_args``), the ``Settings`` a command
runs with (:func:`settings_from`), the flags a format may not take (``grader.render.writers``)
and so the README's usage block (``tests/test_readme.py`` checks it against the parsers).

A new option is one :class:`Option` entry: here for the core, or a :func:`declare` call beside
the format or executor that reads it (``--gradescope-visibility`` in ``render.gradescope``,
``--cluster`` in ``batch.cluster.dask_executor``). Its value reaches the code as:

- ``setting="field"``: that ``Settings`` field (the field, with its default, is in
  ``grader.settings``; the option's default is the field's unless it gives its own);
- ``setting=EXTRA``: ``settings.extras[dest]``, for a plugin's option that needs no field;
- neither: only the command reads it, as ``args.<dest>`` (``--force``, ``--junit``).

Positional arguments (``NOTEBOOK``, ``FOLDER``) stay in ``grader.cli_args``.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from grader.exceptions import UsageError
from grader.settings import SANDBOX_LEVELS, Settings

CHECK, GRADE, SPEC, CALIBRATE, DATA = "check", "grade", "spec", "calibrate", "data"
BASELINES = "baselines"
#: ``setting=EXTRA``: the value goes into ``Settings.extras`` under the option's ``dest``
EXTRA = "<extras>"
#: no ``default=`` given: the ``Settings`` field's default, else ``None``
FROM_SETTINGS: Any = object()


@dataclass(frozen=True)
class Option:
    """One command-line option (see the module docstring)."""

    flag: str
    #: the help text, or a function giving it when the parser is built (it lists a registry)
    help: str | Callable[[], str]
    commands: tuple[str, ...]
    type: Callable[[str], Any] | None = None
    default: Any = FROM_SETTINGS
    setting: str | None = None
    #: an environment variable giving the default when it is set
    env: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    #: argparse's ``store_true`` or ``append``; None: takes one value
    action: str | None = None
    nargs: str | None = None
    dest_name: str | None = None
    #: options with the same group name exclude each other
    group: str | None = None
    #: the setting's value from the option's (``--no-verify`` → ``verify=False``)
    to_setting: Callable[[Any], Any] | None = None
    #: raises ``UsageError`` for a value no command may run with
    validate: Callable[[Any], None] | None = None

    @property
    def dest(self) -> str:
        return self.dest_name or self.flag.lstrip("-").replace("-", "_")

    def help_text(self) -> str:
        return self.help() if callable(self.help) else self.help

    def default_value(self) -> Any:
        if self.env and os.environ.get(self.env):
            return os.environ[self.env]
        if self.default is not FROM_SETTINGS:
            return self.default
        if self.setting and self.setting != EXTRA:
            return _SETTINGS_DEFAULTS[self.setting]
        return [] if self.action == "append" else None

    def add_to(self, parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
        kwargs: dict[str, Any] = {"help": self.help_text(), "dest": self.dest}
        if self.action == "store_true":
            kwargs["action"] = "store_true"
        else:
            kwargs.update(type=self.type, metavar=self.metavar, choices=self.choices,
                          nargs=self.nargs, default=self.default_value())
            if self.action:
                kwargs["action"] = self.action
            if self.action == "append" and self.default is FROM_SETTINGS:
                kwargs["default"] = None  # argparse appends to (and so shares) a list default
        parser.add_argument(self.flag, **{k: v for k, v in kwargs.items() if v is not None})


_SETTINGS_DEFAULTS = {f.name: f.default for f in fields(Settings)}


def _positive(name: str) -> Callable[[Any], None]:
    def validate(value: Any) -> None:
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be positive")
    return validate


_TABLE: list[Option] = [
    Option("--format", "also write these formats ({formats}), {where}", (CHECK, GRADE),
           action="append", metavar="NAME[,NAME]"),
    Option("--out", "the folder for --format (default: the current folder)", (CHECK,),
           type=Path, default=Path("."), metavar="DIR"),
    Option("--out", "the folder for the results, reports and course files (default: reports)",
           (GRADE,), type=Path, default=Path("reports"), metavar="DIR"),
    Option("--sandbox", "isolation of the notebook's kernel: auto (the strongest this machine "
           "offers, else none with a warning), required (refuse to run unsandboxed), off "
           "(default: %(default)s)", (CHECK, SPEC), setting="sandbox", choices=SANDBOX_LEVELS),
    Option("--sandbox", "isolation of each notebook's kernel: auto, required (refuse to run "
           "unsandboxed), off (default: %(default)s; see grader doctor)", (GRADE,),
           setting="sandbox", default="required", choices=SANDBOX_LEVELS),
    Option("--workers", "parallel workers (default: what the cores and free memory allow)",
           (GRADE,), type=int, metavar="N"),
    Option("--force", "regrade everything, even submissions already graded in DIR", (GRADE,),
           action="store_true"),
    Option("--junit", "also write a JUnit XML report", (GRADE,), type=Path, metavar="FILE"),
    Option("--manual", "merge a TA's CSV (student,question,points,comment) into DIR's results; "
           "kept for later runs (docs/ta-workflow.md)", (GRADE,), type=Path, metavar="FILE"),
    Option("--layout", "how the LMS named the submissions (default: recognised from the names; "
           "docs/lms-intake.md)", (GRADE,), choices=("canvas", "moodle", "gradescope", "plain")),
    Option("--gradebook", "also write DIR/gradebook-SYSTEM.csv for the LMS's grade import",
           (GRADE,), choices=("canvas", "moodle", "gradescope")),
    Option("--roster", "the class list exported from the LMS (Canvas: Grades → Export; Moodle: "
           "the grading worksheet or the gradebook export; Gradescope: the roster)", (GRADE,),
           type=Path, metavar="FILE"),
    Option("--roster-map", "CSV of submission,student id pairs for names that are not LMS ids",
           (GRADE,), type=Path, metavar="FILE"),
    Option("--assignment", "the LMS assignment (default: the exercise's name)", (GRADE,),
           metavar="NAME"),
    Option("--data", "the exercise's data file (else $GRADER_DATA, the cache, or a download)",
           (CHECK, GRADE, SPEC, CALIBRATE, BASELINES), setting="data_path", type=Path),
    Option("--exercise", "the exercise to grade against: a folder under reference/ or an "
           "exercise shipped in the package (default: $GRADER_REFERENCE, else cnn2)",
           (CHECK, GRADE), metavar="NAME", group="which"),
    Option("--reference", "any reference folder with spec.json (default: $GRADER_REFERENCE or "
           "the repository's reference/cnn2/)", (CHECK, GRADE, DATA), type=Path, group="which"),
    Option("--timeout", "limit for executing the whole notebook (default %(default)g)",
           (CHECK, GRADE), setting="notebook_timeout", type=float, metavar="SECONDS",
           validate=_positive("--timeout")),
    Option("--no-verify", "skip the verification training (structure checks only)",
           (CHECK, GRADE), setting="verify", action="store_true",
           to_setting=lambda skip: not skip),
    Option("--memo", "where verification trainings are remembered between runs, or off "
           "(default: $GRADER_MEMO, else ~/.cache/cnn-grader/memo)", (CHECK, GRADE, CALIBRATE),
           setting="memo", metavar="DIR"),
    Option("--seeds", "calibration seeds (default: the spec's, else 1..10)", (CALIBRATE,),
           type=int, nargs="+", metavar="SEED"),
    Option("--epochs", "epochs (default: the spec's, else 1)", (CALIBRATE,), type=int),
    Option("--batch-size", "default: the spec's, else 128", (CALIBRATE,), type=int),
    Option("--seed", "the seed used when grading (default: the first calibration seed)",
           (CALIBRATE,), type=int),
    Option("--from", "copy this file into the cache (after checking its sha256)", (DATA,),
           type=Path, metavar="PATH", dest_name="source"),
]


def declare(*options: Option) -> None:
    """Add options (a format's or an executor's, from its own module); a flag a command has
    already is refused, as argparse would fail on every command."""
    for option in options:
        for command in option.commands:
            if any(o.flag == option.flag for o in of(command)):
                raise ValueError(f"{option.flag} is an option of grader {command} already")
        _TABLE.append(option)


def withdraw(flag: str) -> None:
    """Remove a declared option (tests that declare one of their own)."""
    _TABLE[:] = [o for o in _TABLE if o.flag != flag]


def of(command: str) -> list[Option]:
    """The options of ``command``, in declaration order."""
    return [o for o in _TABLE if command in o.commands]


def everything() -> Iterator[Option]:
    return iter(list(_TABLE))


def add_options(parser: argparse.ArgumentParser, command: str, **words: str) -> None:
    """``command``'s options on its parser; ``words`` fill ``{…}`` in the help texts."""
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for option in of(command):
        if words and "{" in option.help_text():
            option = _with_help(option, option.help_text().format(**words))
        if option.group:
            if option.group not in groups:
                groups[option.group] = parser.add_mutually_exclusive_group()
            option.add_to(groups[option.group])
        else:
            option.add_to(parser)


def _with_help(option: Option, text: str) -> Option:
    from dataclasses import replace

    return replace(option, help=text)


def settings_from(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """The ``Settings`` the parsed command runs with: each of its options that names a field
    (or ``EXTRA``) sets it; every option's ``validate`` runs first."""
    changes: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for option in of(args.command):
        if not hasattr(args, option.dest):
            continue
        value = getattr(args, option.dest)
        if option.validate is not None:
            option.validate(value)
        if option.setting is None:
            continue
        value = option.to_setting(value) if option.to_setting else value
        if option.setting == EXTRA:
            extras[option.dest] = value
        else:
            changes[option.setting] = value
    settings = (base or Settings()).with_(**changes)
    return settings.with_(extras={**settings.extras, **extras}) if extras else settings
