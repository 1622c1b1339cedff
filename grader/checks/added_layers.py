"""The check kind ``added_layers``: per layer the student had to add, its type, arguments,
output shape and parameters, each a check of its own.

A check that fails only because of an earlier mistake keeps its points and names it
(``follows_from``). The layers to add come from the spec (its ``missing``), their number too;
the points per aspect from the exercise's declaration. :data:`ASPECTS` lives here because this
kind defines the aspects; the report reads their titles from it.
"""
from __future__ import annotations

from grader import layers as L
from grader.checks import hints
from grader.checks.kind import ADDED, STRUCTURE, CheckContext, CheckKind
from grader.checks.registry import register
from grader.compare.align import Cause, Row, same_args
from grader.result import Check

#: an added layer's aspects, in the report's order, with their titles (a check's ``aspect``
#: is the key; the report shows the title)
ASPECTS = {"type": "type", "args": "arguments", "output_shape": "output shape",
           "params": "parameters"}


@register
class AddedLayers(CheckKind):
    """Per layer the student had to add, one check per aspect; ``points`` per aspect."""

    kind = "added_layers"
    phrase = "the layers you added"
    stage = STRUCTURE
    category, title, section = "added_layer", "Added layers", ADDED

    def max_points(self, spec, verified: bool) -> float:
        return float(sum(self.points.values()) * len(spec.missing))

    def run(self, context: CheckContext) -> list[Check]:
        comparison, marker = context.compared, context.spec.marker
        rows, block = comparison.rows, comparison.block
        added = [k for k, r in enumerate(rows) if r.to_add]
        checks: list[Check] = []
        for number, k in enumerate(added, start=1):
            label = f"Added layer {number} of {len(added)}: {rows[k].reference.layer.describe()}"
            checks += _layer_checks(label, rows[k], block, self.points, comparison.causes[k],
                                    rows, marker)
        return checks


def _layer_checks(label: str, row: Row, block: list[Row], pts: dict, cause: Cause | None,
                  rows: list[Row], marker: str | None) -> list[Check]:
    ref, stu = row.reference, row.stu
    key, hint = hints.for_row(row, block, marker)

    def check(aspect: str, passed: bool, expected, actual, message: str,
              follows: Cause | None = None) -> Check:
        full = float(pts.get(aspect, 0))
        if follows and not passed:
            message += f" (follows from {follows[0]})"
        return Check(name=f"{label}: {ASPECTS[aspect]}", passed=passed, message=message,
                     category=AddedLayers.category, points=full if passed or follows else 0.0,
                     max_points=full, expected=expected, actual=actual, group=label, aspect=aspect,
                     hint=None if passed else follows[1] if follows else hint,
                     follows_from=None if passed or not follows else follows[0],
                     mistake=None if passed else follows[2] if follows else key)
    if stu is None:
        what = hints.missing_message(row, block)
        return [check("type", False, ref.layer.kind, None, what),
                check("args", False, _args(ref), None, what),
                check("output_shape", False, list(ref.output_shape), None, what),
                check("params", False, _params(ref), None, what)]
    kind_ok = ref.layer.kind == stu.layer.kind
    args_ok = kind_ok and same_args(ref.layer, stu.layer)
    shape_ok = ref.output_shape == stu.output_shape
    params_ok = _params(ref) == _params(stu)
    # same type and arguments: other numbers come from the input, i.e. from an earlier mistake
    inherited = cause if args_ok else None
    fused = hints.fused_into_missing(row, rows)
    causes = hints.arg_causes(ref, stu, block) if kind_ok else []
    args_message = f"{stu.layer.describe()}" + ("" if args_ok else ": " + (
        "; ".join(causes) if causes else f"expected {ref.layer.describe()}"))
    return [
        check("type", kind_ok, ref.layer.kind, stu.layer.kind,
              f"{stu.layer.describe()}" + ("" if kind_ok else f": expected a {ref.layer.kind} layer")),
        check("args", args_ok, _args(ref), _args(stu), args_message,
              (fused, hint, hints.FUSED) if fused else None),
        check("output_shape", shape_ok, list(ref.output_shape), list(stu.output_shape),
              f"output {L.fmt_shape(stu.output_shape)}" +
              ("" if shape_ok else f", expected {L.fmt_shape(ref.output_shape)}"), inherited),
        check("params", params_ok, _params(ref), _params(stu),
              f"{hints.fmt_params(stu)}" + ("" if params_ok else f", expected {hints.fmt_params(ref)}"),
              inherited),
    ]


def _params(info: L.LayerInfo) -> dict:
    return {"trainable": info.trainable, "non_trainable": info.non_trainable}


def _args(info: L.LayerInfo) -> dict:
    """The arguments that change what the layer computes (plain data for the JSON result)."""
    return {k: v for k, v in info.layer.args.items() if k not in hints.NON_SEMANTIC}
