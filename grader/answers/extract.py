"""Where a question's answer is in a notebook, read from its JSON (plain data, never executed).

An exercise declares per question (``exercise.json`` → ``"questions"`` → ``"answer"``) a cell
tag (``{"tag": "answer:a"}``: every cell whose ``metadata.tags`` holds it) and/or a heading
(``{"heading": "Answer a)"}``: a markdown heading line that starts with this text as whole
words, case and spacing ignored: "Answer a" finds "Answer a)", never "Answer about"; the
answer is the rest of that cell and the markdown cells after it, up to the next heading or
code cell). A tag is looked for first, so our notebooks (tagged cells) and
the course's own (questions under headings) both work. Nothing found, or only whitespace, is
"no answer found": a result, not an error.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.util.text import plain

#: the most characters of one answer kept (a pasted log must not bloat every report)
MAX_ANSWER_CHARS = 20_000
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")


@dataclass
class Answer:
    """One question's answer as found: ``where`` says in which cells (None: not found)."""

    id: str
    title: str
    text: str = ""
    where: str | None = None
    #: of the normalized text (``normalized``): a manual grade remembers the answer it graded
    sha256: str = ""

    @property
    def found(self) -> bool:
        return bool(self.text.strip())

    def to_dict(self) -> dict:
        return {**asdict(self), "found": self.found}


def normalized(text: str) -> str:
    """Case, whitespace and punctuation ignored: what makes two answers "the same"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c if c.isalnum() else " " for c in text)
    return " ".join(text.split())


def digest(text: str) -> str:
    return hashlib.sha256(normalized(text).encode()).hexdigest()[:16]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _tags(cell: dict) -> list[str]:
    tags = (cell.get("metadata") or {}).get("tags") if isinstance(cell, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def by_tag(cells: list[dict], tag: str) -> tuple[str, str] | None:
    hits = [(i, _source(c)) for i, c in enumerate(cells) if tag in _tags(c)]
    if not hits:
        return None
    return "\n\n".join(s for _, s in hits), f"cell {', '.join(str(i + 1) for i, _ in hits)} " \
                                             f"(tag {tag})"


def by_heading(cells: list[dict], heading: str) -> tuple[str, str] | None:
    """The text under the first markdown heading that starts with ``heading``."""
    wanted = _key(heading)
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        lines = _source(cell).splitlines()
        for n, line in enumerate(lines):
            match = HEADING.match(line)
            if match and _starts(_key(match[1]), wanted):
                return _under(cells, i, lines[n + 1:], heading)
    return None


def _starts(text: str, prefix: str) -> bool:
    """``text`` starts with ``prefix`` as whole words ("answer a)" yes, "answer about" no)."""
    rest = text[len(prefix):]
    return text.startswith(prefix) and not (rest[:1].isalnum() and prefix[-1:].isalnum())


def _under(cells: list[dict], i: int, rest: list[str], heading: str) -> tuple[str, str]:
    parts, last = [], i
    own = _until_heading(rest)
    if own.strip():
        parts.append(own)
    for j in range(i + 1, len(cells)):
        cell = cells[j]
        if cell.get("cell_type") not in ("markdown", "raw"):
            break
        lines = _source(cell).splitlines()
        if lines and HEADING.match(lines[0]):
            break
        parts.append(_until_heading(lines))
        last = j
        if len(parts[-1].splitlines()) < len(lines):
            break
    cells_shown = f"cell {i + 1}" if last == i else f"cells {i + 1}–{last + 1}"
    return "\n\n".join(p for p in parts if p.strip()), f"{cells_shown} (under “{heading}”)"


def _until_heading(lines: list[str]) -> str:
    out = []
    for line in lines:
        if HEADING.match(line):
            break
        out.append(line)
    return "\n".join(out)


def find_answer(cells: list[dict], question: dict) -> Answer:
    """The answer to ``question`` (its ``answer`` places, tag first), else an empty one."""
    place = question.get("answer") or {}
    answer = Answer(str(question.get("id", "")), str(question.get("title", "")))
    found = (by_tag(cells, place["tag"]) if place.get("tag") else None) \
        or (by_heading(cells, place["heading"]) if place.get("heading") else None)
    if found and found[0].strip():
        text = plain(found[0])[:MAX_ANSWER_CHARS].strip()
        answer.text, answer.where, answer.sha256 = text, found[1], digest(text)
    return answer


def notebook_cells(notebook: dict | bytes | Path) -> list[dict]:
    """The cells of a notebook given as parsed JSON, its bytes or a path (none when
    unreadable)."""
    if not isinstance(notebook, dict):
        try:
            raw = notebook if isinstance(notebook, bytes) else Path(notebook).read_bytes()
            notebook = json.loads(raw.decode("utf-8", errors="replace"))
        except (OSError, ValueError):
            return []
    if isinstance(notebook, dict) and "cells" not in notebook and "worksheets" in notebook:
        notebook = _as_v4(notebook)  # nbformat 3 (IPython 2/3): cells inside worksheets
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _as_v4(notebook: dict) -> dict:
    """An nbformat 3 notebook converted as the execution reads it (empty when it cannot be)."""
    import nbformat

    try:
        return dict(nbformat.convert(nbformat.from_dict(notebook), 4))
    except Exception:  # a malformed old notebook: no answers, as for any unreadable one
        return {}


def find_answers(cells: list[dict], questions: list[dict]) -> list[Answer]:
    """Every declared question's answer in the notebook's ``cells``, in the declared order."""
    return [find_answer(cells, q) for q in questions]
