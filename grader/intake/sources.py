"""What ``grade`` was given: a folder or an LMS's zip, in a layout detected or forced.

A zip is unpacked once into the output folder (``grader.intake.archive``); each entry it refused
becomes a submission row of its own (``archive-entry-<hash>``, its reason as the problem), so a
hostile entry is reported and the rest grade. Ids are checked here for what makes them confusing:
ids differing only in case are reported (they stay distinct; a roster matches them exactly).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import ErrorKind
from grader.exceptions import UsageError
from grader.intake import archive, lms_layout
from grader.intake.submissions import Submission, case_variants, shown

EMPTY = ("expected <student>.ipynb files or <student>/ folders with one notebook each, or an "
         "LMS export (Canvas, Moodle, Gradescope; see docs/lms-intake.md)")


@dataclass
class Gathered:
    submissions: list[Submission]
    #: lines for stderr: the layout, refused entries, case-only differences
    notes: list[str] = field(default_factory=list)


def from_folder(folder: Path, layout: str | None, exclude: Path | None = None) -> Gathered:
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder or zip archive: {shown(str(folder))}")
    return _checked(_read(folder, layout, exclude), folder)


def _read(folder: Path, layout: str | None, exclude: Path | None = None) -> Gathered:
    chosen = layout or lms_layout.detect(folder)
    subs = lms_layout.find(folder, chosen, exclude)
    notes = [f"layout {chosen}{'' if layout else ' (detected; --layout to force another)'}"] \
        if chosen != "plain" or layout else []
    return Gathered(subs, notes)


def from_archive(path: Path, out: Path, layout: str | None,
                 limits: archive.Limits | None = None) -> Gathered:
    """Unpack (once) and read the zip's folder; refused entries become rows."""
    unpacked = archive.extract(path, out, limits)
    root = _single_folder(unpacked.folder) if layout != "gradescope" else unpacked.folder
    gathered = _read(root, layout)
    refused = [refused_row(i, r) for i, r in enumerate(unpacked.refused)]
    gathered.submissions += refused
    where = "already unpacked" if unpacked.reused else "unpacked"
    gathered.notes.insert(0, f"{shown(path.name)}: {where} into {unpacked.folder}"
                          + (f"; {len(refused)} entr{'y' if len(refused) == 1 else 'ies'} refused "
                             "(a row each)" if refused else ""))
    return _checked(gathered, path)


def refused_row(index: int, refused: archive.Refused) -> Submission:
    digest = hashlib.sha256(f"{index}:{refused.name}".encode()).hexdigest()[:8]
    try:
        kind = ErrorKind(refused.kind)
    except ValueError:
        kind = ErrorKind.SUBMISSION_LAYOUT
    return Submission(f"archive-entry-{digest}", None,
                      f"zip entry {refused.name!r} was not extracted: {refused.reason}", kind,
                      origin={"layout": "archive", "original_name": refused.name})


def _single_folder(folder: Path) -> Path:
    """A zip that holds one folder (a zipped export folder) is read from inside it."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() \
            and lms_layout.detect(entries[0]) != "plain":
        return entries[0]
    return folder


def _checked(gathered: Gathered, folder: Path) -> Gathered:
    if not gathered.submissions:
        raise UsageError(f"no submissions in {shown(str(folder))}: {EMPTY}")
    gathered.notes += case_variants(gathered.submissions)
    return gathered
