"""The mistake at a layer, decided once: its stable key and the hint a student understands.

Every rule compares a student layer with its aligned reference layer, so the hints follow the
spec (no exercise is named here): "your Conv2D outputs 12x12 instead of 14x14: did you forget
padding='same'?" comes from a Conv2D whose padding differs and whose output shape differs.
The same branch that writes a hint names its mistake as a key (``arg:Conv2D.padding="same"``),
so that a cohort can be grouped by the mistake, not by hint text whose numbers differ per
student: one decision tree gives both (a ``Mistake``). Keys hold only reference values and
layer kinds (both from the allow-list), never student text; ``mistakes.words`` says them.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from grader import layers as L
from grader.compare.rows import NON_SEMANTIC, Row, same_args

#: the order ``arg_causes`` names arguments in: the first differing one is the key
ARG_ORDER = ("padding", "filters", "kernel_size", "activation", "pool_size", "units", "rate")
NOTHING_ADDED = "nothing_added"
FUSED = "fused_activation"


class Mistake(NamedTuple):
    """A mistake as a stable key (for a cohort) and as a hint (for the student)."""

    key: str
    hint: str


def fmt_params(info: L.LayerInfo) -> str:
    if info.non_trainable:
        return f"{info.trainable:,} trainable + {info.non_trainable:,} non-trainable parameters"
    return f"{info.trainable:,} parameters"


def _hw(shape) -> str:
    return f"{shape[1]}x{shape[2]}" if len(shape) == 4 else L.fmt_shape(shape)


def arg_causes(ref: L.LayerInfo, stu: L.LayerInfo, block: list[Row] | None = None) -> list[str]:
    """Sentences naming each argument that differs, with the fix (one per argument)."""
    e, a, kind = ref.layer.args, stu.layer.args, ref.layer.kind
    out, done = [], set()

    def say(arg: str, text: str) -> None:
        if e.get(arg) != a.get(arg) and arg not in done:
            done.add(arg)
            out.append(text)
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
        shrunk = e.get("padding") == "same" and ref.output_shape != stu.output_shape
        say("padding", f"your {kind} outputs {_hw(stu.output_shape)} instead of {_hw(ref.output_shape)}: "
                       f"did you forget padding='{e.get('padding')}'?" if shrunk else
            f"your {kind} uses padding='{a.get('padding')}'; the exercise asks for "
            f"padding='{e.get('padding')}'")
    if kind == "Conv2D":
        say("filters", f"your Conv2D has {a.get('filters')} filters; the reference uses "
                       f"{e.get('filters')}: write Conv2D({e.get('filters')}, ...)")
        k, r = a.get("kernel_size") or ["?", "?"], e.get("kernel_size") or ["?", "?"]
        say("kernel_size", f"your Conv2D uses a {k[0]}x{k[1]} kernel; the exercise asks for "
                           f"{r[0]}x{r[1]}: use kernel_size=({r[0]}, {r[1]})")
    if kind in ("Conv2D", "Dense") and e.get("activation") != a.get("activation"):
        say("activation", _fused_activation(kind, e.get("activation"), a.get("activation"), block))
    if kind == "Activation":
        say("activation", f"your Activation uses '{a.get('activation')}'; the exercise asks for "
                          f"'{e.get('activation')}': write {ref.layer.describe()}")
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        p = e.get("pool_size") or ["?", "?"]
        say("pool_size", f"your {kind} uses pool_size={_tuple(a.get('pool_size'))}; the exercise "
                         f"asks for pool_size=({p[0]}, {p[1]})")
        if a.get("strides") == a.get("pool_size") and e.get("strides") == e.get("pool_size"):
            done.add("strides")  # Keras's default (the pool size): follows from pool_size
    if kind == "Dense":
        say("units", f"use Dense({e.get('units')}) (yours has {a.get('units')} units)")
    if kind in ("Dropout", "SpatialDropout2D"):
        say("rate", f"your {kind} uses a rate of {a.get('rate')}; use {e.get('rate')}")
    for arg in sorted(set(e) | set(a)):
        if arg not in NON_SEMANTIC:
            say(arg, f"your {kind} uses {arg}={_value(a.get(arg))}; the exercise asks for "
                     f"{arg}={_value(e.get(arg))}")
    return out


def _fused_activation(kind: str, wanted: str | None, yours: str | None,
                      block: list[Row] | None) -> str:
    if wanted != "linear":
        return f"your {kind} uses activation='{yours}'; use activation='{wanted}' in this {kind}"
    rows = block or []
    if any(r.stu is None and r.ref is not None and r.reference.layer.args.get("activation") == yours
           and r.reference.layer.kind == "Activation" for r in rows):
        return (f"the activation is fused into the {kind} (activation='{yours}'): remove it there "
                "and add it as a separate Activation layer where the reference has one")
    if any(r.stu is not None and r.student.layer.kind == "Activation"
           and r.student.layer.args.get("activation") == yours for r in rows):
        return (f"your {kind} has activation='{yours}' and a separate Activation('{yours}') follows: "
                f"the activation is applied twice; remove activation='{yours}' from the {kind}")
    return (f"your {kind} uses activation='{yours}'; the reference's {kind} has no activation: "
            f"remove activation='{yours}'")


def fused_into_missing(row: Row, rows: list[Row]) -> str | None:
    """A layer whose only difference is an activation that belongs to a missing Activation layer:
    one mistake (the activation in the wrong place), charged at the missing layer."""
    ref, stu = row.reference, row.stu
    if stu is None or ref.layer.kind != stu.layer.kind or ref.layer.kind not in ("Conv2D", "Dense"):
        return None
    def other(layer):  # every argument that counts but the activation
        return {k: v for k, v in layer.args.items() if k != "activation" and k not in NON_SEMANTIC}
    if other(stu.layer) != other(ref.layer) \
            or ref.layer.args.get("activation") != "linear":
        return None
    wanted = stu.layer.args.get("activation")
    return next((f"layer {k + 1} (the missing {r.reference.layer.describe()})" for k, r in enumerate(rows)
                 if r.stu is None and r.reference.layer.kind == "Activation"
                 and r.reference.layer.args.get("activation") == wanted), None)


def extra_in_block(row: Row, rows: list[Row]) -> str:
    """An extra layer among the layers to add: which of those are right, and what is extra."""
    added = [r for r in rows if r.to_add]
    right = [n for n, r in enumerate(added, start=1) if r.status == "match" or (
        r.stu is not None and r.reference.layer.kind == r.student.layer.kind and _same(r))]
    if len(right) == len(added):
        head = f"the {len(added)} layers to add are correct"
    elif right:
        head = f"added layer(s) {', '.join(map(str, right))} of {len(added)} are correct"
    else:
        head = "none of the layers to add is correct yet"
    return f"{head}; the extra {row.student.layer.describe()} is not in the reference: remove it"


def _same(row: Row) -> bool:
    return same_args(row.reference.layer, row.student.layer)


def _tuple(v) -> str:
    return str(tuple(v)) if isinstance(v, (list, tuple)) else repr(v)


def _value(v) -> str:
    if isinstance(v, str):
        return f"'{v}'"
    return _tuple(v) if isinstance(v, list) else repr(v)


def for_row(row: Row, block: list[Row], marker: str | None = None) -> Mistake:
    """The one mistake at a reference layer the student had to add; ``marker`` is the
    exercise's text where the student's code goes (named when nothing was added)."""
    ref, stu = row.reference, row.stu
    misplaced = _misplaced(block)
    if misplaced:
        return Mistake(f"order:{misplaced}", f"your {misplaced} is in the wrong place: the "
                                             f"reference order is {_order(block)}")
    if stu is None:
        return _missing(row, block, marker)
    key = difference_key(row)
    if ref.layer.kind != stu.layer.kind:
        return Mistake(key, f"use {ref.layer.describe()} here instead of {stu.layer.describe()}")
    causes = arg_causes(ref, stu, block)
    if causes:
        return Mistake(key, "; ".join(causes))
    if ref.input_shape != stu.input_shape:
        return Mistake(key, f"this layer's input is {L.fmt_shape(stu.input_shape)} instead of "
                            f"{L.fmt_shape(ref.input_shape)}: fix the layer before it")
    return Mistake(key, f"make it {ref.layer.describe()}")


def mistake_of(row: Row, block: list[Row], rows: list[Row],
                marker: str | None = None) -> Mistake:
    """The mistake a row makes by itself (the hint its consequences repeat)."""
    if row.in_block and (row.to_add or row.ref is None):
        misplaced = _misplaced(block)
        if misplaced:
            found = Mistake(f"order:{misplaced}", f"your {misplaced} is in the wrong place: the "
                                                  f"reference order is {_order(block)}")
        elif row.ref is None:
            found = Mistake(difference_key(row), extra_in_block(row, rows))
        else:
            found = for_row(row, block, marker)
    else:
        found = difference(row)
    if row.ref is not None and fused_into_missing(row, block):
        return Mistake(FUSED, found.hint)
    return found


def _misplaced(block: list[Row]) -> str | None:
    """A layer to add that is missing at its place but present, extra, at another."""
    extra = {r.student.layer.kind for r in block if r.ref is None}
    return next((r.reference.layer.kind for r in block if r.to_add and r.stu is None
                 and r.reference.layer.kind in extra), None)


def _order(block: list[Row]) -> str:
    return " → ".join(r.reference.layer.describe() for r in block if r.to_add)


def _missing(row: Row, block: list[Row], marker: str | None) -> Mistake:
    kind = row.reference.layer.kind
    students = [r.stu for r in block if r.stu is not None]
    if not students:
        where = f"where the notebook says '{marker}'" if marker else "where your layers go"
        return Mistake(NOTHING_ADDED, f"nothing was added {where}. Add, in this order: "
                                      f"{_order(block)}")
    wanted = row.reference.layer.args.get("activation")
    if kind == "Activation" and any(s.layer.args.get("activation") == wanted for s in students):
        fused = next(s for s in students if s.layer.args.get("activation") == wanted)
        return Mistake(FUSED, f"the activation is fused into your {fused.layer.kind} "
                              f"(activation='{wanted}'): the reference applies it in its own "
                              f"layer, {row.reference.layer.describe()}, in this order: {_order(block)}")
    before = _previous_added(row, block)
    where = f" right after {before.layer.describe()}" if before else ""
    return Mistake(difference_key(row), f"add {row.reference.layer.describe()}{where}; the reference "
                                        f"order is {_order(block)}")


def _previous_added(row: Row, block: list[Row]) -> L.LayerInfo | None:
    previous = None
    for r in block:
        if r is row:
            return previous
        if r.ref is not None:
            previous = r.ref
    return None


def missing_message(row: Row, block: list[Row]) -> str:
    return f"no {row.reference.layer.kind} layer here: {row.reference.layer.describe()} is missing"


def explained_by_order(row: Row, rows: list[Row]) -> bool:
    """An extra layer that is really a layer to add, put in the wrong place."""
    return any(r.to_add and r.stu is None and r.reference.layer.kind == row.student.layer.kind for r in rows)


def _key_value(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def first_arg(ref: L.LayerInfo, stu: L.LayerInfo) -> str | None:
    """The first argument (in ``arg_causes``' order) that differs, ignoring non-semantic ones."""
    e, a = ref.layer.args, stu.layer.args
    named = [k for k in ARG_ORDER if e.get(k) != a.get(k)]
    rest = sorted(k for k in set(e) | set(a) if k not in NON_SEMANTIC and e.get(k) != a.get(k))
    return next(iter(named + rest), None)


def difference(row: Row) -> Mistake:
    """What a row differs by: one decision, as a key (the first difference) and in words
    (every difference)."""
    ref, stu = row.ref, row.stu
    if stu is None:
        missing = row.reference.layer
        return Mistake(f"missing:{missing.kind}", f"the reference layer {missing.describe()} is missing")
    if ref is None:
        return Mistake(f"extra:{stu.layer.kind}",
                       f"extra layer {stu.layer.describe()} that the reference does not have")
    if ref.layer.kind != stu.layer.kind:
        return Mistake(f"type:{ref.layer.kind}:{stu.layer.kind}",
                       f"{stu.layer.describe()} where the reference has {ref.layer.describe()}")
    arg = first_arg(ref, stu)
    key = f"arg:{ref.layer.kind}.{arg}={_key_value(ref.layer.args.get(arg))}" if arg is not None \
        else f"input:{ref.layer.kind}"
    parts = arg_causes(ref, stu)
    if ref.output_shape != stu.output_shape:
        parts.append(f"{stu.layer.describe()} outputs {L.fmt_shape(stu.output_shape)} instead of "
                     f"{L.fmt_shape(ref.output_shape)}")
    if (ref.trainable, ref.non_trainable) != (stu.trainable, stu.non_trainable):
        parts.append(f"{stu.layer.describe()} has {fmt_params(stu)} instead of {fmt_params(ref)}")
    return Mistake(key, "; ".join(parts))


def difference_key(row: Row) -> str:
    return difference(row).key


def row_difference(row: Row) -> str:
    return difference(row).hint


def architecture_hint(problems: list[str]) -> str:
    return ("keep the rest of the model as the template has it and change only the part between "
            f"the markers; first difference: {problems[0]}")


def totals_hint(first: Row | None) -> str:
    """``first``: the first row with a mistake of its own (``align.first_own_mistake``)."""
    if first is None:
        return "the totals follow from the layers above"
    return f"the totals follow from the layers: fix this first: {row_difference(first)}"
