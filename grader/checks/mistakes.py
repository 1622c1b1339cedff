"""Mistake keys in words: the same words for the same key, for the index and course.json.

A key (``arg:Conv2D.padding="same"``, ``missing:MaxPooling2D``, …) is decided together with the
student's hint by ``grader.checks.hints`` (one decision tree); here it is only said in words.
Keys hold only reference values and layer kinds, never student text.
"""
from __future__ import annotations

import json

from grader.checks.hints import FUSED, NOTHING_ADDED


def _arg_words(kind: str, arg: str, value: str) -> str:
    try:
        wanted = json.loads(value)
    except ValueError:
        wanted = value
    if arg == "padding" and wanted == "same":
        return f"{kind} without padding='same'"
    if arg == "activation" and wanted == "linear":
        return f"an activation inside {kind} (the reference has none there)"
    if isinstance(wanted, list):
        wanted = "x".join(map(str, wanted)) if arg.endswith("size") else tuple(wanted)
    shown = f"'{wanted}'" if isinstance(wanted, str) and not arg.endswith("size") else wanted
    if arg == "filters":
        return f"{kind} without {wanted} filters"
    return f"{kind} with another {arg} than {shown}"


def words(key: str | None) -> str:
    """The mistake in words, for the index and course.json (same words for the same key)."""
    if not key:
        return ""
    if key == NOTHING_ADDED:
        return "nothing added"
    if key == FUSED:
        return "activation fused into the layer before instead of its own Activation layer"
    head, _, rest = key.partition(":")
    if head == "arg" and "." in rest and "=" in rest:
        kind, _, tail = rest.partition(".")
        arg, _, value = tail.partition("=")
        return _arg_words(kind, arg, value)
    if head == "type":
        wanted, _, got = rest.partition(":")
        return f"{got} instead of {wanted}"
    phrases = {"missing": "missing {}", "extra": "an extra {} layer", "order": "{} in the wrong place",
               "input": "{} fed a wrong input shape"}
    return phrases[head].format(rest) if head in phrases else key
