"""Stable, machine-readable keys for the mistake behind a failed check, and their words.

A hint is a sentence for one student ("your Conv2D outputs 12x12 instead of 14x14: did you
forget padding='same'?"); its numbers and names differ from student to student, so a cohort
cannot be grouped by hint text. The key names the mistake itself, from the same aligned rows
the hints come from: ``arg:Conv2D.padding=same`` is every Conv2D without the reference's
padding, whatever shape it produced. Keys hold only reference values and layer kinds (both from
the allow-list), never student text. Nothing here knows an exercise: keys follow the spec.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from grader import layers as L
from grader.compare.hints import NON_SEMANTIC, _misplaced, fused_into_missing

if TYPE_CHECKING:
    from grader.compare.align import Row

#: the order ``hints.arg_causes`` names arguments in: the first differing one is the key
ARG_ORDER = ("padding", "filters", "kernel_size", "activation", "pool_size", "units", "rate")
NOTHING_ADDED = "nothing_added"
FUSED = "fused_activation"


def _value(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def first_arg(ref: L.LayerInfo, stu: L.LayerInfo) -> str | None:
    """The first argument (in the hints' order) that differs, ignoring non-semantic ones."""
    e, a = ref.layer.args, stu.layer.args
    named = [k for k in ARG_ORDER if e.get(k) != a.get(k)]
    rest = sorted(k for k in set(e) | set(a) if k not in NON_SEMANTIC and e.get(k) != a.get(k))
    return next(iter(named + rest), None)


def difference_key(row: "Row") -> str:
    """The key of what a row differs by (``hints.row_difference``'s mistake)."""
    ref, stu = row.ref, row.stu
    if stu is None:
        return f"missing:{ref.layer.kind}"
    if ref is None:
        return f"extra:{stu.layer.kind}"
    if ref.layer.kind != stu.layer.kind:
        return f"type:{ref.layer.kind}:{stu.layer.kind}"
    arg = first_arg(ref, stu)
    if arg is not None:
        return f"arg:{ref.layer.kind}.{arg}={_value(ref.layer.args.get(arg))}"
    return f"input:{ref.layer.kind}"


def for_row(row: "Row", block: list["Row"]) -> str:
    """The key of ``hints.for_row``'s hint: the mistake at a layer the student had to add."""
    misplaced = _misplaced(block)
    if misplaced:
        return f"order:{misplaced}"
    if row.stu is None:
        students = [r.stu for r in block if r.stu is not None]
        if not students:
            return NOTHING_ADDED
        wanted = row.ref.layer.args.get("activation")
        if row.ref.layer.kind == "Activation" and any(
                s.layer.args.get("activation") == wanted for s in students):
            return FUSED
    return difference_key(row)


def mistake_of(row: "Row", block: list["Row"]) -> str:
    """The key of ``hints.mistake_hint``: the mistake a row makes by itself."""
    if row.ref is not None and fused_into_missing(row, block):
        return FUSED
    if row.in_block and (row.to_add or row.ref is None):
        misplaced = _misplaced(block)
        if misplaced:
            return f"order:{misplaced}"
        return difference_key(row) if row.ref is None else for_row(row, block)
    return difference_key(row)


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
