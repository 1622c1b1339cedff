"""Numbers as students write them, read out of an answer's text.

A student writes 392,500 as ``392500``, ``392,500``, ``392 500`` (also a thin or no-break
space), the Swiss ``392'500``, the German ``392.500``, or ``3.925e5``; percentages as ``91.5 %``.
Every number in the text is read into the set of values it can mean, and a fact is found when
one of them matches. The one ambiguity is **a single ``.`` or ``,`` followed by exactly three
digits after one to three digits not starting a ``0.`` fraction, without exponent** (``392.500``, ``1,250``): it
is both a decimal (392.5) and a thousands grouping (392500), and both readings are kept. Two
or more groups (``1.234.567``), a grouping followed by a decimal part (``392,500.0``), and
space or apostrophe groupings are read one way only. A number followed by ``%`` also reads as
its fraction (``91.5 %`` → 0.915). Digits inside words (``dense_1``, ``Conv2D``) are no numbers.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable

from grader.result import Check

#: separators of thousands groups: comma, dot, apostrophes, normal/thin/no-break spaces
GROUP = ",.'\u2019 \u202f\u00a0"
NUMBER = re.compile(
    r"(?<![\w.,'\u2019])(?P<sign>[-+\u2212]?)"
    r"(?P<mantissa>\d{1,3}(?P<sep>[" + GROUP + r"])\d{3}(?:(?P=sep)\d{3})*(?:[.,]\d+)?"
    r"|\d+(?:[.,]\d+)?)"
    r"(?P<exp>[eE][-+]?\d+)?(?![\w]|[.,]\d)(?P<pct>\s?%)?")


def readings(match: re.Match) -> set[float]:
    """Every value one number token can mean (see the module docstring)."""
    mantissa, sep = match["mantissa"], match["sep"]
    values: set[float] = set()
    if sep is not None and sep in ".," and match["exp"] and mantissa.count(sep) == 1:
        sep = None  # 3.925e5: a mantissa with an exponent is a decimal, never a grouping
    if sep is None:
        values.add(float(mantissa.replace(",", ".")))
    else:
        head, _, _ = mantissa.partition(sep)
        groups = mantissa.split(sep)
        tail = groups[-1]
        decimal = ""
        for mark in ".,":
            if mark != sep and mark in tail:
                tail, decimal = tail.split(mark)
        whole = "".join(groups[:-1]) + tail
        values.add(float(whole + ("." + decimal if decimal else "")))
        if sep in ".," and len(groups) == 2 and not decimal and head != "0":
            values.add(float(head + "." + groups[1]))  # the ambiguous single group: decimal too
        if sep in ".," and head == "0" and len(groups) == 2 and not decimal:
            values = {float("0." + groups[1])}  # 0.915 is never 915
    scale = 10.0 ** int(match["exp"][1:]) if match["exp"] else 1.0
    sign = -1.0 if match["sign"] in ("-", "\u2212") else 1.0
    values = {sign * v * scale for v in values}
    if match["pct"]:
        values |= {v / 100 for v in values}
    return values


def numbers_in(text: str) -> list[tuple[str, set[float]]]:
    """Each number token of ``text`` as written, with the values it can mean."""
    return [(m.group(0).strip(), readings(m)) for m in NUMBER.finditer(text or "")]


def close(value: float, wanted: float, tolerance: float) -> bool:
    """``value`` within ``tolerance`` of ``wanted`` (absolute; a tiny relative slack for floats)."""
    return math.isclose(value, wanted, rel_tol=1e-9, abs_tol=max(tolerance, 1e-12))


def find(text: str, wanted: float, tolerance: float = 0.0) -> str | None:
    """The first token of ``text`` that can mean ``wanted`` (within ``tolerance``), as written."""
    for token, values in numbers_in(text):
        if any(close(v, wanted, tolerance) for v in values):
            return token
    return None


def settle(base: Check, quoted: list[tuple[str, float]], accepted: Callable[[float], bool],
           agree: str, disagree: str, none: str) -> Check:
    """``base`` decided by the numbers an answer ``quoted`` (token, value): the first one
    ``accepted`` earns its points (``agree`` names it as ``{hit}``); else ``disagree`` lists
    what was quoted (``{quoted}``), or ``none`` says nothing was."""
    hit = next((t for t, v in quoted if accepted(v)), None)
    if hit is not None:
        base.passed, base.points = True, base.max_points
        base.message = agree.replace("{hit}", hit)
    elif quoted:
        base.message = disagree.replace("{quoted}", ", ".join(t for t, _ in quoted[:3]))
    else:
        base.message = none
    return base
