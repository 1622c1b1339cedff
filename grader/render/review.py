"""How every renderer words ``Result.review`` (flags for a person, not a verdict): one place."""
from __future__ import annotations

from grader.util.text import plain

#: what a TA reads above the list of flags
HEADING = "Flagged for review"


def where(entry: dict) -> str:
    """``cell 3, line 2`` (or less, when the entry has no place)."""
    parts = []
    if entry.get("cell_index") is not None:
        parts.append(f"cell {entry['cell_index']}")
    if entry.get("line") is not None:
        parts.append(f"line {entry['line']}")
    return ", ".join(parts)


def item(entry: dict) -> str:
    """One flag as a line: ``cell 3, line 2: changes json.dump, … (patch-module)``."""
    place = where(entry)
    text = f"{entry.get('message', '')} ({entry.get('code', '?')})"
    return plain(f"{place}: {text}" if place else text)


def short(review: list[dict], limit: int = 3) -> str:
    """One line for a table cell or a terminal: ``3 flags: cell 3 line 2 (patch-module); …``."""
    if not review:
        return ""
    shown = "; ".join(plain(f"{where(e).replace(',', '')} ({e.get('code', '?')})")
                      for e in review[:limit])
    more = f"; … {len(review) - limit} more" if len(review) > limit else ""
    count = f"{len(review)} flag{'s' if len(review) != 1 else ''}"
    return f"{count}: {shown}{more}"
