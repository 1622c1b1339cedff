"""Which LMS made a submissions folder, and each entry's student as that LMS knows them.

Every LMS names its "download all submissions" entries its own way (``docs/lms-intake.md``):

- **Canvas**: flat files ``<name>_<user id>_<submission id>_<original name>``; a late one has
  ``_LATE_`` (older exports ``_late_``) after the name; a second upload of the same file name is
  renamed ``<original>-1.ipynb``, ``-2``, … The id is the user id (the roster's ``ID``).
- **Moodle**: ``<Full Name>_<participant id>_assignsubmission_file_/…`` folders ("download
  submissions in folders", the default since 3.x), or the same prefix on flat files. The id is the
  participant id (the grading worksheet's ``Participant NNN``).
- **Gradescope**: ``submission_metadata.yml`` and one ``submission_<id>/`` folder per
  submission (under ``assignment_<id>_export/``). The id is the first submitter's SID, else email.

A student with several entries gets the newest graded (submission time, else submission id, else
Canvas's resubmission number); the others are named in ``origin["superseded"]``. Anything not
named like its layout is graded under its plain name, as in a plain folder.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grader.exceptions import UsageError
from grader.intake import gradescope_meta
from grader.intake.submissions import (
    NOTEBOOK,
    Submission,
    find_submissions,
    ident,
    not_regular,
    shown,
)

LAYOUTS = ("canvas", "moodle", "gradescope", "plain")
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?:_(?P<late>LATE|late))?_(?P<uid>\d+)_(?P<sid>\d+)_"
                    r"(?P<orig>.+)$")
RESUBMITTED = re.compile(r"-(?P<n>\d+)\.ipynb$")
MOODLE = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$")
#: how deep a submission's own folders are searched for its notebook
MAX_DEPTH = 6


def detect(folder: Path) -> str:
    """The layout by its marks: Gradescope's metadata file, Moodle's ``_assignsubmission_``,
    Canvas's ``_<user id>_<submission id>_`` on most notebooks; else ``plain``."""
    if gradescope_meta.find(folder) is not None:
        return "gradescope"
    names = [e.name for e in _entries(folder)]
    if any(_moodle(n) for n in names):
        return "moodle"
    notebooks = [n for n in names if n.endswith(NOTEBOOK)]
    canvas = [n for n in notebooks if CANVAS.match(n)]
    return "canvas" if canvas and 2 * len(canvas) >= len(notebooks) else "plain"


def find(folder: Path, layout: str | None = None, exclude: Path | None = None) -> list[Submission]:
    """The submissions of ``folder`` in ``layout`` (detected when None)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {shown(str(folder))}")
    layout = layout or detect(folder)
    if layout == "plain":
        return find_submissions(folder, exclude)
    found = {"canvas": _canvas, "moodle": _moodle_entries, "gradescope": _gradescope}[layout](
        folder, exclude)
    return newest(found)


# -- Canvas --------------------------------------------------------------------------------------

def _canvas(folder: Path, exclude: Path | None) -> list[Submission]:
    out, named = [], set()
    for entry in _entries(folder):
        m = CANVAS.match(entry.name)
        if not (m and entry.name.endswith(NOTEBOOK)):
            continue
        named.add(ident(entry.name[: -len(NOTEBOOK)]))
        again = RESUBMITTED.search(m["orig"])
        origin = {"layout": "canvas", "id": m["uid"], "name": m["name"],
                  "submission_id": m["sid"], "original_name": shown(m["orig"]),
                  "late": bool(m["late"]), "submitted_at": None,
                  "order": [int(m["sid"]), int(again["n"]) if again else 0]}
        out.append(_one_file(folder, entry, ident(m["uid"]), origin))
    # anything else is graded under its plain name, as in a plain folder
    return out + [s for s in find_submissions(folder, exclude) if s.student not in named]


# -- Moodle --------------------------------------------------------------------------------------

def _moodle(name: str) -> re.Match | None:
    return MOODLE.match(name)


def _moodle_entries(folder: Path, exclude: Path | None) -> list[Submission]:
    out: list[Submission] = []
    files: dict[str, list[tuple[os.DirEntry, dict]]] = {}
    for entry in _entries(folder):
        m = _moodle(entry.name)
        if m is None or m["plugin"] != "file":
            continue  # online text, feedback, comments: not a notebook
        origin = {"layout": "moodle", "id": m["pid"], "name": shown(m["name"]),
                  "submission_id": None, "late": None, "submitted_at": None}
        student = ident(m["pid"])
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode) and not m["rest"]:
            out.append(_in_folder(folder, Path(entry.path), student, origin))
        elif entry.name.endswith(NOTEBOOK):
            files.setdefault(student, []).append((entry, {**origin,
                                                          "original_name": shown(m["rest"])}))
    for student, entries in files.items():
        if len(entries) == 1:
            out.append(_one_file(folder, entries[0][0], student, entries[0][1]))
        else:
            names = ", ".join(o["original_name"] for _, o in entries)
            out.append(Submission(student, None, f"{len(entries)} notebooks were submitted "
                                  f"({names}) and Moodle gives no times: submit exactly one",
                                  origin=entries[0][1]))
    return out


# -- Gradescope ----------------------------------------------------------------------------------

def _gradescope(folder: Path, exclude: Path | None) -> list[Submission]:
    meta_file = gradescope_meta.find(folder)
    assert meta_file is not None
    meta = gradescope_meta.read(meta_file)
    base = meta_file.parent
    out = []
    for entry in _entries(base):
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISDIR(info.st_mode) or entry.name not in meta:
            continue
        record = meta[entry.name]
        origin = {"layout": "gradescope", "submission_id": entry.name.rpartition("_")[2],
                  **record}
        student = safe_id(record["id"]) if record.get("id") else ident(entry.name)
        out.append(_in_folder(folder, Path(entry.path), student, origin))
    return out


# -- shared --------------------------------------------------------------------------------------

def safe_id(text: str) -> str:
    """An id taken from a file's contents (a SID, an email) as a file name: no folder separator,
    never hidden, no control character; percent-escaped (``%`` too), so two ids stay two."""
    text = text.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")
    return ident("%2e" + text[1:] if text.startswith(".") else text)


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")),
                      key=lambda e: os.fsencode(e.name))


def _one_file(root: Path, entry: os.DirEntry, student: str, origin: dict) -> Submission:
    info = entry.stat(follow_symlinks=False)
    origin.setdefault("original_name", shown(entry.name))
    if stat.S_ISREG(info.st_mode):
        return Submission(student, Path(entry.path), root=root, origin=origin)
    sub = not_regular(student, entry.name, info.st_mode)
    return Submission(sub.student, None, sub.problem, sub.kind, origin=origin)


def _notebooks(top: Path, depth: int = 0) -> Iterator[tuple[Path, int]]:
    """Every ``.ipynb`` under ``top`` (links listed, never followed; hidden entries skipped)."""
    for entry in _entries(top):
        info = entry.stat(follow_symlinks=False)
        if entry.name.endswith(NOTEBOOK) and not stat.S_ISDIR(info.st_mode):
            yield Path(entry.path), info.st_mode
        elif stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
            yield from _notebooks(Path(entry.path), depth + 1)


def _in_folder(root: Path, top: Path, student: str, origin: dict) -> Submission:
    """The one notebook in a submission's folder (at any depth), or why there is none."""
    found = list(_notebooks(top))
    where = f"the folder {shown(top.name)}/"
    if len(found) != 1:
        names = ", ".join(shown(str(p.relative_to(top))) for p, _ in found) or "none"
        what = "holds no notebook (.ipynb)" if not found else \
            f"holds {len(found)} notebooks ({names}); submit exactly one"
        return Submission(student, None, f"{where} {what}", origin=origin)
    path, mode = found[0]
    origin = {**origin, "original_name": shown(str(path.relative_to(top)))}
    if not stat.S_ISREG(mode):
        sub = not_regular(student, f"{where}{shown(path.name)}", mode)
        return Submission(student, None, sub.problem, sub.kind, origin=origin)
    return Submission(student, path, root=root, origin=origin)


def _order(sub: Submission) -> tuple:
    origin: dict[str, Any] = sub.origin or {}
    return (origin.get("submitted_at") or "", origin.get("order") or
            [int(origin.get("submission_id") or 0)])


def newest(subs: list[Submission]) -> list[Submission]:
    """One submission per student: the newest; the others' names go into its origin."""
    by_student: dict[str, list[Submission]] = {}
    for sub in subs:
        by_student.setdefault(sub.student, []).append(sub)
    out = []
    for group in by_student.values():
        group.sort(key=_order)
        keep = group[-1]
        if len(group) > 1 and keep.origin is not None:
            older = [(s.origin or {}).get("original_name") or s.student for s in group[:-1]]
            keep = Submission(keep.student, keep.notebook, keep.problem, keep.kind, keep.root,
                              {**keep.origin, "superseded": older})
        out.append(keep)
    for sub in out:
        if sub.origin is not None:
            sub.origin.pop("order", None)
    return out
