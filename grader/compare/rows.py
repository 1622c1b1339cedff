"""The aligned architecture as data: a ``Row`` per reference/student layer pair and the
``Alignment`` the check kinds read (``grader.compare.align`` makes them, ``grader.checks.hints``
words them). Here so that both import it and neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader import layers as L

#: arguments that do not change what a layer computes for this comparison (README: "What counts
#: as the same layer")
NON_SEMANTIC = frozenset({"kernel_initializer", "momentum", "epsilon"})


def same_args(a: L.Layer, b: L.Layer) -> bool:
    """The same kind with the same arguments that count (``NON_SEMANTIC`` ones aside)."""
    def strip(layer: L.Layer) -> dict:
        return {k: v for k, v in layer.args.items() if k not in NON_SEMANTIC}

    return a.kind == b.kind and strip(a) == strip(b)


@dataclass
class Row:
    """One line of the aligned architecture, as the report shows it."""

    ref: L.LayerInfo | None
    stu: L.LayerInfo | None
    to_add: bool = False  # the reference layer is one the student had to add
    in_block: bool = False  # between the markers (where the student's layers go)

    @property
    def reference(self) -> L.LayerInfo:
        """The reference layer, on a row known to have one (all but an extra layer's)."""
        if self.ref is None:
            raise ValueError("an extra layer's row has no reference layer")
        return self.ref

    @property
    def student(self) -> L.LayerInfo:
        """The student's layer, on a row known to have one (all but a missing layer's)."""
        if self.stu is None:
            raise ValueError("a missing layer's row has no student layer")
        return self.stu

    @property
    def status(self) -> str:
        if self.stu is None:
            return "missing"
        if self.ref is None:
            return "extra"
        return "match" if differences(self.ref, self.stu) == [] else "mismatch"

    def to_dict(self) -> dict:
        return {"reference": self.ref.to_dict() if self.ref else None,
                "student": self.stu.to_dict() if self.stu else None,
                "status": self.status, "to_add": self.to_add, "in_block": self.in_block}


def differences(ref: L.LayerInfo, stu: L.LayerInfo) -> list[str]:
    out = []
    if ref.layer.kind != stu.layer.kind:
        out.append("type")
    if ref.output_shape != stu.output_shape:
        out.append("output_shape")
    if (ref.trainable, ref.non_trainable) != (stu.trainable, stu.non_trainable):
        out.append("params")
    if ref.layer.kind == stu.layer.kind and not same_args(ref.layer, stu.layer):
        out.append("args")
    return out



Cause = tuple  # (where: "layer 11 (Conv2D(...))", the hint for that mistake, its mistake key)


@dataclass
class Alignment:
    """The student's layers against the reference's: what the layer checks read.

    ``student`` is the chain in canonical form (the equivalence table applied), ``accepted``
    says which spellings were accepted as the same, ``causes[k]`` is the first earlier row with
    a mistake of its own (where, hint, key), the mistake a later difference follows from.
    """

    rows: list[Row]
    student: list[L.LayerInfo]
    accepted: list[str]
    causes: list[Cause | None]

    @property
    def block(self) -> list[Row]:
        return [row for row in self.rows if row.in_block]
