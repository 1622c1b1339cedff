"""A tiny, safe Markdown subset for showing a student's written answer in HTML.

No library: the answers are short prose, and every Markdown library either passes raw HTML
through by default or needs a sanitizer beside it (bleach/nh3): a new dependency for a job of
forty lines. Here the text is **escaped first** (so ``<script>``, ``<img onerror>``, raw HTML
and entities show as typed), and only then is a fixed subset turned into tags: paragraphs
(blank lines), line breaks, ``**bold**``, ``*italic*``/``_italic_``, ```code```, bullet and
numbered lists and ``#`` headings (shown bold). Links and images stay text: nothing of an
answer can load, link or run. The pages' Content-Security-Policy blocks scripts anyway.
"""
from __future__ import annotations

import re

from markupsafe import Markup, escape

CODE = re.compile(r"`([^`\n]+)`")
BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")
BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")


def inline(text: str) -> str:
    """Escaped ``text`` with code, bold and italic (code first: its inside stays literal)."""
    pieces = CODE.split(text)
    out = []
    for k, piece in enumerate(pieces):
        safe = str(escape(piece))
        if k % 2:
            out.append(f"<code>{safe}</code>")
        else:
            out.append(ITALIC.sub(r"<em>\1</em>", BOLD.sub(r"<strong>\1</strong>", safe)))
    return "".join(out)


def render(text: str) -> Markup:
    """``text`` as safe HTML: blocks separated by blank lines, each a list, heading or paragraph."""
    blocks = re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip())
    html = []
    for block in (b for b in blocks if b.strip()):
        lines = block.split("\n")
        if all(BULLET.match(line) for line in lines):
            items = "".join(f"<li>{inline(_group(BULLET, line))}</li>" for line in lines)
            html.append(f"<ul>{items}</ul>")
        elif len(lines) == 1 and HEADING.match(lines[0]):
            html.append(f"<p><strong>{inline(_group(HEADING, lines[0]))}</strong></p>")
        else:
            html.append("<p>" + "<br>".join(inline(line) for line in lines) + "</p>")
    return Markup("".join(html))


def _group(pattern: re.Pattern[str], line: str) -> str:
    """The first group of ``pattern`` on a ``line`` it is known to match."""
    found = pattern.match(line)
    return found[1] if found else line
