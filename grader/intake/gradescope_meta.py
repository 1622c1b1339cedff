"""Gradescope's ``submission_metadata.yml``: who submitted each ``submission_<id>/`` folder, when.

The file (Gradescope → assignment → Review Grades → Export Submissions) maps each submission
folder to ``:submitters:`` (``:name:``, ``:sid:``, ``:email:``), ``:created_at:`` and more. Its
keys are Ruby symbols (``:name``) and some values carry Ruby type tags (``!ruby/object:…``), so it
is read with PyYAML's safe loader taught to read any tag as plain data: nothing in the file can
construct an object. Only what the grader needs is kept, as plain strings.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from grader.exceptions import UsageError
from grader.intake.submissions import shown

META_FILE = "submission_metadata.yml"
MAX_META_BYTES = 50 * 1024**2


class _Loader(yaml.SafeLoader):
    """The safe loader, reading every unknown tag (Ruby's) as the plain node under it."""


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _plain)
_Loader.add_multi_constructor("tag:", _plain)


def find(folder: Path) -> Path | None:
    """The metadata file in ``folder`` or in its only subfolder (``assignment_<id>_export/``)."""
    folder = Path(folder)
    candidates = [folder / META_FILE, *(p / META_FILE for p in sorted(folder.iterdir())
                                        if p.is_dir() and not p.is_symlink())]
    return next((p for p in candidates if p.is_file() and not p.is_symlink()), None)


def _key(data: dict, name: str) -> Any:
    return data.get(f":{name}", data.get(name))


def when(value: Any) -> str | None:
    """A time as ISO 8601 (with its offset), or None."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        try:
            return dt.datetime.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return shown(value.strip())
    return None


def read(path: Path) -> dict[str, dict]:
    """``{folder name: {id, name, email, sid, submitted_at, submitters}}``; a clear error if
    the file is not Gradescope's metadata."""
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise UsageError(f"{path}: larger than {MAX_META_BYTES // 2**20} MB")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 -- _Loader is SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read Gradescope's {META_FILE} ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not Gradescope's {META_FILE} (not a mapping)")
    return {str(k): _record(v) for k, v in data.items() if isinstance(v, dict)}


def _record(data: dict) -> dict:
    people = []
    for person in _key(data, "submitters") or []:
        if isinstance(person, dict):
            people.append({f: shown(str(_key(person, f) or "")).strip()
                           for f in ("name", "sid", "email")})
    first = people[0] if people else {"name": "", "sid": "", "email": ""}
    return {"id": first["sid"] or first["email"] or None, "name": first["name"] or None,
            "email": first["email"] or None, "sid": first["sid"] or None,
            "submitted_at": when(_key(data, "created_at")), "late": None,
            "submitters": people}
