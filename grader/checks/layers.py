"""The check kinds on the student's layers: the added layers, the whole architecture, the totals.

Each mistake is charged where it is: a check that fails only because of an earlier mistake
keeps its points and names it (``follows_from``). The layers to add come from the spec (its
``missing``), their number too; the points from the exercise's declaration.
"""
from __future__ import annotations

from grader import layers as L
from grader.checks import hints
from grader.checks.kind import ADDED, ARCHITECTURE, STRUCTURE, CheckContext, CheckKind
from grader.checks.registry import register
from grader.compare.align import Cause, Row, first_own_mistake, own_mistake, same_args, where
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


@register
class Architecture(CheckKind):
    """Every layer the student was not asked to add is unchanged (consequences excepted)."""

    kind = "architecture"
    phrase = "the architecture check"
    stage = STRUCTURE
    category, title, section = "architecture", "Architecture", ARCHITECTURE

    def run(self, context: CheckContext) -> list[Check]:
        c = context.compared
        return [_architecture_check(c.rows, c.causes, self.points, c.accepted)]


def _architecture_check(rows: list[Row], causes: list[Cause | None], points: float,
                        accepted: list[str]) -> Check:
    problems, consequences, follows, extras, keys = [], [], None, [], []
    for k, row in enumerate(rows):
        if row.to_add or row.status == "match":
            continue
        if row.in_block and row.status == "extra" and hints.explained_by_order(row, rows):
            continue
        if row.in_block and row.status == "extra":
            extras.append(hints.extra_in_block(row, rows))
            problems.append(extras[-1])
            keys.append(hints.difference_key(row))
        elif own_mistake(row):
            found = hints.difference(row)
            problems.append(found.hint)
            keys.append(found.key)
        else:
            consequences.append(hints.row_difference(row))
            follows = follows or causes[k]
    passed = not problems and not consequences
    if passed:
        message = "every other layer matches the reference (type, arguments, output shape, " \
                  "parameters)"
        if accepted:
            message += "; accepted as the same: " + "; ".join(accepted)
    else:
        message = "; ".join(problems) if problems else \
            "the layers you were not asked to change are unchanged"
        if consequences:
            message += f". As a consequence of the layers above, {len(consequences)} later " \
                       f"layer(s) differ: " + "; ".join(consequences[:3])
            if not problems and follows:
                message += f" (follows from {follows[0]})"
    kept = not problems
    return Check(name="Whole architecture matches the reference", passed=passed, message=message,
                 category=Architecture.category, points=float(points) if kept else 0.0,
                 max_points=float(points),
                 follows_from=None if passed or problems or not follows else follows[0],
                 mistake=None if passed else keys[0] if keys else follows[2] if follows else None,
                 hint=None if passed else (extras[0] if extras and problems[0] == extras[0] else
                                           hints.architecture_hint(problems) if problems else
                                           follows[1] if follows else None))


@register
class Totals(CheckKind):
    """The parameter totals equal the reference's (they differ only where a layer does)."""

    kind = "totals"
    phrase = "the parameter totals"
    stage = STRUCTURE
    category, title, section = "totals", "Parameter totals", ARCHITECTURE

    def run(self, context: CheckContext) -> list[Check]:
        c = context.compared
        return [_totals_check(context.spec.totals, L.totals(c.student), c.rows, self.points,
                              context.spec.marker)]


def _totals_check(expected: dict, actual: dict, rows: list[Row], points: float,
                  marker: str | None) -> Check:
    passed = expected == actual
    # the totals are sums of the layers' counts: they differ only where a layer does
    first = None if passed else first_own_mistake(rows)
    cause = None if first is None else rows[first]
    follows = None if first is None else where(first, rows[first])
    message = (f"{actual['total']:,} parameters ({actual['trainable']:,} trainable, "
               f"{actual['non_trainable']:,} non-trainable)")
    if not passed:
        message += f"; the reference has {expected['total']:,} ({expected['trainable']:,} " \
                   f"trainable, {expected['non_trainable']:,} non-trainable)"
        if follows:
            message += f" (follows from {follows})"
    block = [r for r in rows if r.in_block]
    return Check(name="Parameter totals", passed=passed, message=message, category=Totals.category,
                 points=float(points) if passed or follows else 0.0, max_points=float(points),
                 hint=None if passed else hints.totals_hint(cause), expected=expected,
                 actual=actual, follows_from=follows,
                 mistake=None if cause is None else
                 hints.mistake_of(cause, block, rows, marker).key)
