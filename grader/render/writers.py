"""Output formats as a registry, so that ``check`` and ``grade`` offer the same ones.

A :class:`Writer` is a name and what it renders — a document about one result (``one``), a
document about a course (``course``, a list of results), or both — plus where its files go by
default. Renderers return text; writing is done here, atomically, for every format alike.

- ``grader check NB --format NAME[,NAME] [--out DIR]`` writes each format's document about the
  one result (``one``, else ``course`` of a one-result list) to ``DIR/<file_name>``; each format
  also has its own path flag (``--json FILE``, ``--report FILE.html``, ``--csv FILE``, …).
- ``grader grade FOLDER --format NAME[,NAME]`` adds formats to the batch's defaults (JSON,
  HTML, CSV): per student ``DIR/<student_file>`` (from ``one``) and one ``DIR/<course_file>``
  (from ``course``).

A new format is one module that builds a ``Writer`` and calls :func:`register`, plus its name
in :data:`BUILTIN` (or a ``register`` call from anywhere before the command line is parsed).
An option of its own is declared in the same module (``grader.options.declare``) and read by
its ``read_options`` into ``FormatContext.of(name)``.
A built-in whose module cannot be imported (HTML without jinja2) is simply not offered.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import options
from grader.exceptions import UsageError
from grader.render.files import write_text
from grader.result import Result
from grader.util import plugins

#: the modules of the shipped formats, imported (and so registered) on first use, in this order
BUILTIN = ("grader.render.json_out", "grader.render.html", "grader.render.csv_out",
           "grader.render.junit", "grader.render.gradescope")
#: what ``grade`` always writes: the per-student JSON is the batch's own record (for re-runs)
GRADE_DEFAULTS = ("json", "html", "csv")


@dataclass(frozen=True)
class FormatContext:
    """What a format may need besides the results."""

    #: each chosen format's own options, by format name, as its ``read_options`` returned them
    options: Mapping[str, Any] = field(default_factory=dict)
    #: a course document's link to each student's own file (``None``: the format's default)
    links: dict[str, str] | None = None

    def of(self, writer: str, default: Any = None) -> Any:
        """The options ``writer`` read from the command line (``default`` when not chosen)."""
        return self.options.get(writer, default)


@dataclass(frozen=True)
class Writer:
    """One output format; see the module docstring."""

    name: str
    help: str
    #: ``check``'s default file name (in ``--out DIR``)
    file_name: str
    one: Callable[[Result, FormatContext], str] | None = None
    course: Callable[[list[Result], FormatContext], str] | None = None
    #: ``grade``'s course document in ``DIR`` (default: ``file_name``)
    course_file: str | None = None
    #: ``grade``'s file per student, ``{}`` the student's file stem, e.g. ``students/{}.json``
    student_file: str | None = None
    #: ``check``'s path flag (default ``--NAME``) and its metavar
    flag: str | None = None
    metavar: str = "FILE"
    #: what to write when the grader cannot run at all (else nothing is written)
    failure: Callable[[str], str] | None = None
    #: reads (and refuses, with ``UsageError``) the format's own options from the parsed
    #: command line before any grading; they reach ``one``/``course`` as ``context.of(name)``
    read_options: Callable[[argparse.Namespace], Any] | None = None

    @property
    def option(self) -> str:
        return self.flag or f"--{self.name}"

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")

    def render_one(self, result: Result, context: FormatContext) -> str:
        """The document about one result (a course of one where the format has no other)."""
        if self.one is not None:
            return self.one(result, context)
        assert self.course is not None  # register() refuses a writer that renders nothing
        return self.course([result], context)

    def write_one(self, result: Result, path: Path, context: FormatContext = FormatContext()) -> Path:
        return write_text(Path(path), self.render_one(result, context))

    def write_course(self, results: list[Result], path: Path,
                     context: FormatContext = FormatContext()) -> Path:
        assert self.course is not None, f"{self.name} writes no course document"
        return write_text(Path(path), self.course(results, context))


_REGISTRY: dict[str, Writer] = {}


def reserved_options() -> frozenset[str]:
    """``grader check``'s own options (``grader.options``): a format's flag must not take one
    (argparse would fail on every command)."""
    return frozenset({"--help"} | {o.flag for o in options.of(options.CHECK)})


def register(writer: Writer) -> Writer:
    """Offer ``writer`` to both commands; its name, flag and files must be its own."""
    if writer.option in reserved_options():
        raise ValueError(f"format {writer.name!r}: its flag {writer.option} is an option of "
                         "grader check already; give it another name or flag")
    if writer.one is None and writer.course is None:
        raise ValueError(f"format {writer.name!r} renders nothing (give one or course)")
    if writer.one is not None and not writer.student_file:
        raise ValueError(f"format {writer.name!r}: a per-student document needs student_file")
    for other in _REGISTRY.values():
        if other.name == writer.name:
            continue
        clash = _files(writer) & _files(other)
        if clash or other.option == writer.option:
            raise ValueError(f"format {writer.name!r} clashes with {other.name!r} "
                             f"({', '.join(sorted(clash)) or writer.option})")
    _REGISTRY[writer.name] = writer
    return writer


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _files(writer: Writer) -> set[str]:
    """Where ``grade`` writes it (per-student patterns and the course file)."""
    found = {writer.student_file} if writer.student_file else set()
    return found | ({writer.course_file or writer.file_name} if writer.course else set())


def available() -> dict[str, Writer]:
    """Every registered format, by name (the built-ins imported once, before any notebook runs)."""
    plugins.load(BUILTIN, optional=True)  # a format whose dependency is missing: not offered
    return {w.name: w for w in sorted(_REGISTRY.values(), key=_rank)}


def _rank(writer: Writer) -> int:
    """The built-ins in ``BUILTIN``'s order (whichever was imported first), then the others."""
    module = (writer.one or writer.course).__module__
    return BUILTIN.index(module) if module in BUILTIN else len(BUILTIN)


def get(name: str) -> Writer:
    found = available().get(name)
    if found is None:
        raise UsageError(f"unknown format {name!r}: choose from {', '.join(available())}")
    return found


def context_from(args: argparse.Namespace, chosen: list[Writer]) -> FormatContext:
    """The chosen formats' own options, read (and refused when bad) before any grading."""
    return FormatContext({w.name: w.read_options(args) for w in chosen if w.read_options is not None})


def parse_formats(values: list[str] | None) -> list[Writer]:
    """``--format json,html --format csv`` → those writers, each once, in the order given."""
    names = [n.strip() for value in values or [] for n in value.split(",") if n.strip()]
    return [get(name) for name in dict.fromkeys(names)]
