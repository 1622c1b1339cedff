"""Stage 4: compare the student's layers with the reference spec.

Layers are aligned like sequences (Needleman-Wunsch), so one missing or extra layer shows up
once as a gap instead of as a cascade of mismatches in every later layer. The checks are driven
by the spec: which layers the student had to add, and the points of each check.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader.compare import equivalence
from grader.compare import hints
from grader.compare import mistakes
from grader import layers as L
from grader.result import Check
from grader.spec import Spec

MATCH, SAME_ARGS, SAME_KIND, SUBSTITUTE, GAP = 3.0, 2.5, 2.0, -1.5, -1.0
NON_SEMANTIC = hints.NON_SEMANTIC


def same_args(a: L.Layer, b: L.Layer) -> bool:
    strip = lambda layer: {k: v for k, v in layer.args.items() if k not in NON_SEMANTIC}
    return a.kind == b.kind and strip(a) == strip(b)


def _score(a: L.LayerInfo, b: L.LayerInfo) -> float:
    """Identical layers score highest; the same layer fed another shape next (so that of two
    equal Conv2D(64) layers, the one with the reference's input is matched)."""
    if a.layer.kind != b.layer.kind:
        return SUBSTITUTE
    if not same_args(a.layer, b.layer):
        return SAME_KIND
    same_numbers = (a.output_shape, a.trainable, a.non_trainable) == \
        (b.output_shape, b.trainable, b.non_trainable)
    return MATCH if same_numbers else SAME_ARGS


def align(ref: list[L.LayerInfo], stu: list[L.LayerInfo]) -> list[tuple[int | None, int | None]]:
    """Global alignment: rows of (reference index or None, student index or None)."""
    n, m = len(ref), len(stu)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        best[i][0] = i * GAP
    for j in range(1, m + 1):
        best[0][j] = j * GAP
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best[i][j] = max(best[i - 1][j - 1] + _score(ref[i - 1], stu[j - 1]),
                             best[i - 1][j] + GAP, best[i][j - 1] + GAP)
    # Walking back from the end, a tie goes to a missing reference layer: of equal alignments,
    # the one that takes the *later* identical layers as the missing ones wins (the student
    # adds layers after the template's, not before).
    rows, i, j = [], n, m
    while i or j:
        if i and best[i][j] == best[i - 1][j] + GAP:
            rows.append((i - 1, None)); i -= 1
        elif i and j and best[i][j] == best[i - 1][j - 1] + _score(ref[i - 1], stu[j - 1]):
            rows.append((i - 1, j - 1)); i -= 1; j -= 1
        else:
            rows.append((None, j - 1)); j -= 1
    return rows[::-1]


@dataclass
class Row:
    """One line of the aligned architecture, as the report shows it."""

    ref: L.LayerInfo | None
    stu: L.LayerInfo | None
    to_add: bool = False  # the reference layer is one the student had to add
    in_block: bool = False  # between the markers (where the student's layers go)

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


def aligned_rows(spec: Spec, ref: list[L.LayerInfo], stu: list[L.LayerInfo]) -> list[Row]:
    """Aligned rows; the block is the layers to add plus extra layers the student put there."""
    pairs = align(ref, stu)
    rows = [Row(ref[r] if r is not None else None, stu[s] if s is not None else None,
                to_add=r in spec.missing) for r, s in pairs]
    marked = [k for k, row in enumerate(rows) if row.to_add]
    lo, hi = marked[0], marked[-1]
    while lo > 0 and rows[lo - 1].ref is None:
        lo -= 1
    while hi < len(rows) - 1 and rows[hi + 1].ref is None:
        hi += 1
    for row in rows[lo:hi + 1]:
        row.in_block = True
    return rows


def check_layers(spec: Spec, stu: list[L.LayerInfo]) -> tuple[list[Check], list[Row]]:
    """The per-layer checks for the layers to add, the architecture and the totals.

    The student's chain is first put in canonical form by the equivalence table; each mistake is
    then charged where it is, and a check that fails only because of an earlier mistake keeps its
    points and names it (``follows_from``).
    """
    ref = equivalence.tidy(spec.infos())
    stu, accepted = equivalence.normalize(stu, ref)
    rows = aligned_rows(spec, ref, stu)
    block = [row for row in rows if row.in_block]
    causes = _causes(rows, block)
    pts = spec.points
    checks: list[Check] = []
    added = [k for k, r in enumerate(rows) if r.to_add]
    for number, k in enumerate(added, start=1):
        checks += _missing_layer_checks(number, len(added), rows[k], block, pts["missing_layer"],
                                        causes[k], rows)
    checks.append(_architecture_check(rows, causes, pts["architecture"], accepted))
    checks.append(_totals_check(spec.totals, L.totals(stu), rows, pts["totals"]))
    return checks, rows


def own_mistake(row: Row) -> bool:
    """The row differs by itself: missing, extra, another type or other arguments (not only
    other numbers because an earlier layer feeds it another shape)."""
    if row.ref is None or row.stu is None:
        return True
    return not same_args(row.ref.layer, row.stu.layer)


Cause = tuple  # (where: "layer 11 (Conv2D(...))", the hint for that mistake, its mistake key)


def _causes(rows: list[Row], block: list[Row]) -> list[Cause | None]:
    """For each row, the first earlier row with a mistake of its own, and how to fix it."""
    out, first = [], None
    for k, row in enumerate(rows):
        out.append(first)
        if first is None and own_mistake(row):
            first = (_where(k, row), hints.mistake_hint(row, block, rows),
                     mistakes.mistake_of(row, block))
    return out


def _where(k: int, row: Row) -> str:
    what = row.stu.layer.describe() if row.stu else f"the missing {row.ref.layer.describe()}"
    return f"layer {k + 1} ({what})"


def _missing_layer_checks(number: int, count: int, row: Row, block: list[Row], pts: dict,
                          cause: Cause | None, rows: list[Row]) -> list[Check]:
    ref, stu = row.ref, row.stu
    label = f"Added layer {number} of {count}: {ref.layer.describe()}"
    hint, key = hints.for_row(row, block), mistakes.for_row(row, block)

    def check(aspect: str, passed: bool, expected, actual, message: str,
              follows: Cause | None = None) -> Check:
        full = float(pts.get(aspect, 0))
        if follows and not passed:
            message += f" (follows from {follows[0]})"
        return Check(name=f"{label}: {ASPECTS[aspect]}", passed=passed, message=message,
                     category="added_layer", points=full if passed or follows else 0.0,
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
        check("args", args_ok, _args(ref), _args(stu), args_message, fused and (fused, hint, mistakes.FUSED)),
        check("output_shape", shape_ok, list(ref.output_shape), list(stu.output_shape),
              f"output {L.fmt_shape(stu.output_shape)}" +
              ("" if shape_ok else f", expected {L.fmt_shape(ref.output_shape)}"), inherited),
        check("params", params_ok, _params(ref), _params(stu),
              f"{hints.fmt_params(stu)}" + ("" if params_ok else f", expected {hints.fmt_params(ref)}"),
              inherited),
    ]


ASPECTS = {"type": "type", "args": "arguments", "output_shape": "output shape",
           "params": "parameters"}


def _params(info: L.LayerInfo) -> dict:
    return {"trainable": info.trainable, "non_trainable": info.non_trainable}


def _args(info: L.LayerInfo) -> dict:
    """The arguments that change what the layer computes (plain data for the JSON result)."""
    return {k: v for k, v in info.layer.args.items() if k not in NON_SEMANTIC}


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
            keys.append(mistakes.difference_key(row))
        elif own_mistake(row):
            problems.append(hints.row_difference(row))
            keys.append(mistakes.difference_key(row))
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
                 category="architecture", points=float(points) if kept else 0.0,
                 max_points=float(points),
                 follows_from=None if passed or problems or not follows else follows[0],
                 mistake=None if passed else keys[0] if keys else follows[2] if follows else None,
                 hint=None if passed else (extras[0] if extras and problems[0] == extras[0] else
                                           hints.architecture_hint(problems) if problems else
                                           follows[1] if follows else None))


def _totals_check(expected: dict, actual: dict, rows: list[Row], points: float) -> Check:
    passed = expected == actual
    # the totals are sums of the layers' counts: they differ only where a layer does
    first = None if passed else next((k for k, r in enumerate(rows) if own_mistake(r)), None)
    follows = None if first is None else _where(first, rows[first])
    message = (f"{actual['total']:,} parameters ({actual['trainable']:,} trainable, "
               f"{actual['non_trainable']:,} non-trainable)")
    if not passed:
        message += f"; the reference has {expected['total']:,} ({expected['trainable']:,} " \
                   f"trainable, {expected['non_trainable']:,} non-trainable)"
        if follows:
            message += f" (follows from {follows})"
    return Check(name="Parameter totals", passed=passed, message=message, category="totals",
                 points=float(points) if passed or follows else 0.0, max_points=float(points),
                 hint=None if passed else hints.totals_hint(rows), expected=expected, actual=actual,
                 follows_from=follows,
                 mistake=None if first is None else mistakes.mistake_of(
                     rows[first], [r for r in rows if r.in_block]))
