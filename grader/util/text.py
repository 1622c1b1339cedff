"""The one sanitizer for text that came from a submission or its kernel.

Exception messages, tracebacks, class and variable names, file names and the kernel's stderr
are the student's text: an escape sequence in them (OSC ``\\x1b]0;…\\x07`` sets a terminal's
title or writes a hyperlink, CSI moves the cursor or clears the screen, U+009B is the one-byte
CSI) would drive the terminal of whoever reads a summary, a CSV or a log. Every output shows
such text through ``plain``; the execution stage stores it already plain.
"""
from __future__ import annotations

import re
from typing import Any

#: CSI, OSC and two-character escape sequences, removed whole
ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
#: then any other control character but tab and newline: C0, DEL, C1 (U+009B is a CSI), and
#: lone surrogates (no terminal or UTF-8 file can take them)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
LINE_BREAKS = re.compile("[\t\n]")


def plain(text: Any, *, one_line: bool = False) -> str:
    """``text`` without escape sequences or control characters; with ``one_line``, tabs and
    newlines become spaces too (a name inside a progress line must not break it)."""
    cleaned = CONTROL.sub("", ESCAPE.sub("", str(text or "")))
    return LINE_BREAKS.sub(" ", cleaned) if one_line else cleaned


def first_line(exc: object) -> str:
    """The first line of an exception's message, plain and at most 300 characters: what a
    one-line error message quotes (the whole text goes to the traceback)."""
    text = plain(str(exc)).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
