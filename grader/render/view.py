"""What the HTML report shows, as plain values: the templates only lay these out.

Everything here reads a ``Result`` and formats it; nothing computes a grade. Values from a
submission (layer names, messages, tracebacks) stay plain strings here and are escaped by the
templates' autoescape.
"""
from __future__ import annotations

import math
import re
from typing import Any

from grader import layers as L
from grader.analytics.cohort import mistake_words
from grader.answers import view as answer_view
from grader.checks import registry
from grader.checks.added_layers import ASPECTS
from grader.checks.kind import ADDED, ANSWERS, ARCHITECTURE, TRAINING
from grader.render import plots, points, review
from grader.render.origin import line as origin_line
from grader.result import Check, Result, Status
from grader.util.text import plain

FAILED_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
#: the end of a longer traceback is shown (the error is last); the JSON result keeps it all
MAX_TRACEBACK_CHARS = 20_000

VERDICTS = {
    Status.PASSED: ("PASSED", "All checks passed."),
    Status.FAILED: ("FAILED", "Some checks failed: see what to change below."),
    Status.ERROR: ("NOT GRADED", "The notebook could not be graded: see what went wrong below."),
    Status.TIMEOUT: ("NOT GRADED", "A time or size limit was reached: see what went wrong below."),
}
ROW_STATUS = {"match": "same", "mismatch": "differs", "missing": "missing", "extra": "extra layer"}


def fmt_value(value: Any) -> str:
    """A check's expected/actual value as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return L.fmt_shape(value)
    if isinstance(value, dict) and "trainable" in value:
        return fmt_params(value)
    if isinstance(value, dict):  # a layer's arguments
        return ", ".join(f"{k}={fmt_arg(v)}" for k, v in value.items()) or "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_arg(v: Any) -> str:
    if isinstance(v, list):
        return "(" + ", ".join(map(str, v)) + ")"
    return f"'{v}'" if isinstance(v, str) else str(v)


def fmt_params(d: dict | None) -> str:
    if not d:
        return "—"
    trainable, frozen = d.get("trainable", 0), d.get("non_trainable", 0)
    return f"{trainable:,} + {frozen:,} non-trainable" if frozen else f"{trainable:,}"


def verdict(result: Result) -> dict:
    word, line = VERDICTS[result.status]
    fraction = result.score / result.max_score if result.max_score else 0.0
    return {"word": word, "line": line, "status": result.status.value,
            "score": f"{result.score:g}", "max_score": f"{result.max_score:g}",
            "percent": round(100 * min(max(fraction, 0.0), 1.0), 1)}


def added_layers(result: Result) -> list[dict]:
    """One card per layer the student had to add: expected beside actual, with its hints."""
    groups: dict[str, list[Check]] = {}
    added = set(registry.categories(ADDED))
    for check in result.checks:  # by the structured ``group``, never by parsing names
        if check.category in added:
            groups.setdefault(check.group or check.name, []).append(check)
    rows = [r for r in result.alignment if r.get("to_add")]
    cards: list[dict] = []
    first_card: dict[str, int] = {}  # a hint shown once; later cards point back to it
    for k, (label, checks) in enumerate(groups.items()):
        row = rows[k] if k < len(rows) else {}
        ref, stu = row.get("reference") or {}, row.get("student")
        aspects = [{"title": ASPECTS.get(c.aspect or "", c.aspect or c.name),
                    "expected": fmt_value(c.expected),
                    "actual": fmt_value(c.actual) if stu is not None else "missing",
                    "passed": c.passed, "points": f"{c.points:g}", "max_points": f"{c.max_points:g}",
                    "message": c.message, "follows_from": c.follows_from,
                    "note": points.note(c)} for c in checks]
        expected_desc = ref.get("description") or label
        your_desc = stu.get("description") if stu else None
        cards.append({
            "number": k + 1, "title": label, "passed": all(c.passed for c in checks),
            "expected": expected_desc, "yours": your_desc,
            "your_name": stu.get("name") if stu else None,
            "desc_differs": your_desc != expected_desc,
            "aspects": aspects,
            "hints": [{"text": h, "same_as": first_card.setdefault(h, k + 1)}
                      for h in _unique(c.hint for c in checks
                                       if not c.passed and (not c.follows_from or c.aspect == "args"))],
            "follows": _unique(c.follows_from for c in checks if c.follows_from),
            "messages": _unique(c.message for c in checks if not c.passed and stu is None),
        })
    return cards


def _unique(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _layer(d: dict | None) -> dict | None:
    if not d:
        return None
    return {"description": d.get("description") or d.get("type", "?"), "name": d.get("name") or "",
            "shape": L.fmt_shape(d.get("output_shape") or ()), "params": fmt_params(d),
            "trainable": f"{d.get('trainable', 0):,}", "non_trainable": d.get("non_trainable", 0)}


def architecture(result: Result) -> list[dict]:
    """The aligned rows: a missing or extra layer is one gap row, not a cascade."""
    out = []
    for number, row in enumerate(result.alignment, start=1):
        ref, stu = _layer(row.get("reference")), _layer(row.get("student"))
        differs = set()
        if ref and stu:
            differs = {key for key in ("description", "shape", "params") if ref[key] != stu[key]}
        status = row.get("status", "")
        # the same layer with other numbers: its input changed, an earlier layer is the cause
        follows = status == "mismatch" and bool(differs) and "description" not in differs
        out.append({"number": number, "ref": ref, "stu": stu, "status": status,
                    "status_text": ROW_STATUS.get(status, status), "ok": status == "match",
                    "follows": follows,
                    "to_add": bool(row.get("to_add")), "in_block": bool(row.get("in_block")),
                    "differs": differs})
    return out


def totals(result: Result) -> list[dict]:
    yours, ref = result.totals or {}, result.reference_totals or {}
    if not yours and not ref:
        return []
    return [{"label": label, "yours": f"{yours.get(key, 0):,}" if yours else "—",
             "reference": f"{ref.get(key, 0):,}" if ref else "—",
             "ok": yours.get(key) == ref.get(key)}
            for label, key in (("trainable", "trainable"), ("non-trainable", "non_trainable"),
                               ("total", "total"))]


def checks_of(result: Result, *categories: str) -> list[Check]:
    return [c for c in result.checks if c.category in categories]


def training(result: Result) -> dict:
    """The verification run against its range, and both runs' curves (None where absent)."""
    t = result.training if isinstance(result.training, dict) else None
    view: dict[str, Any] = {"ran": t is not None,
                            "checks": checks_of(result, *registry.categories(TRAINING)),
                            "plot": None, "measured": None, "range": None, "gauge": None}
    if t is not None:
        curves = _curves(t)
        rng = t.get("range") if plots._valid_range(t.get("range")) else None
        measured = _number(t.get("val_accuracy"))
        if measured is None:
            measured = next((v for v in reversed(plots.numbers(curves.get("val_accuracy")) or [])
                             if not math.isnan(v)), None)
        view.update(measured=measured, range=rng, plot=_plot(curves, rng),
                    epochs=_number(t.get("epochs")), seconds=_number(t.get("seconds")),
                    remembered=t.get("source") == "memo",
                    gauge=_gauge(measured, rng))
    history = result.student_history if isinstance(result.student_history, dict) else None
    known = {k for pair in plots.CURVES.values() for keys in pair for k in keys}
    view["student_plot"] = _plot(history, None) if history else None
    view["student_other_keys"] = sorted(str(k) for k in history if k not in known)[:20] \
        if history else []
    view["student_present"] = bool(history)
    view["student_source"] = result.student_history_source
    return view


def _curves(t: dict) -> dict:
    for key in ("history", "curves"):
        if isinstance(t.get(key), dict):
            return t[key]
    return {k: v for k, v in t.items() if isinstance(v, list) and k != "range"}


def _number(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def _plot(history: dict, rng) -> dict:
    """A plot as {"uri": ...}, or {"uri": None, "failed": True} when the data cannot be drawn."""
    try:
        return {"uri": plots.curves(history, rng), "failed": False}
    except (ValueError, TypeError, OverflowError, RuntimeError):
        return {"uri": None, "failed": True}


def _gauge(measured: float | None, rng) -> dict | None:
    """Positions (0–100) for the inline bar that shows the accuracy against its range."""
    if measured is None or rng is None:
        return None
    def pct(x: float) -> float:
        return round(100 * min(max(x, 0.0), 1.0), 2)

    return {"lo": pct(rng[0]), "width": round(pct(min(rng[1], 1.0)) - pct(rng[0]), 2),
            "at": pct(measured), "inside": rng[0] <= measured <= rng[1]}


def error(result: Result) -> dict | None:
    e = result.error
    if e is None:
        return None
    trace = _without_cell_copy(plain(e.traceback)) if e.traceback else ""
    lines = plain(e.cell_source).split("\n") if e.cell_source else []
    found = FAILED_LINE.findall(trace)
    bad = int(found[-1]) if found and 0 < int(found[-1]) <= len(lines) else None
    if len(trace) > MAX_TRACEBACK_CHARS:
        cut = len(trace) - MAX_TRACEBACK_CHARS
        trace = f"[… the first {cut:,} characters are in the JSON result]\n" + trace[cut:]
    return {"kind": e.kind, "message": plain(e.message), "cell_index": e.cell_index,
            "source": [{"number": n, "text": t, "bad": n == bad} for n, t in enumerate(lines, 1)],
            "bad_line": bad, "traceback": trace, "advice": plain(e.advice) if e.advice else None}


def _without_cell_copy(trace: str) -> str:
    """nbclient starts a traceback with a copy of the cell between two rules; the report shows
    the cell itself, so the copy goes (the finding of the failing line reads the full text)."""
    head, rule = "An error occurred while executing the following cell:\n", "-" * 18 + "\n"
    if trace.startswith(head + rule) and trace.count(rule) >= 2:
        return trace.split(rule, 2)[2].lstrip("\n")
    return trace


def footer(result: Result) -> dict:
    v, t, s = result.versions or {}, result.timings or {}, result.spec or {}
    return {"versions": [(k, v[k]) for k in ("grader", "tensorflow", "keras", "nbclient") if k in v],
            "timings": [(k, f"{t[k]:.1f} s") for k in t if _number(t[k]) is not None],
            "exercise": s.get("exercise"), "spec_path": _short_path(s.get("path")),
            "spec_sha": str(s.get("sha256") or "")[:12],
            "sandbox": result.sandbox, "notebook_sha": str(result.notebook_sha256 or "")[:12]}


def _short_path(path: str | None) -> str | None:
    """``reference/spec.json`` rather than the grading machine's whole path."""
    return "/".join(str(path).replace("\\", "/").split("/")[-2:]) if path else None


def report(result: Result) -> dict:
    return {"r": result, "verdict": verdict(result), "added": added_layers(result),
            "rows": architecture(result), "totals": totals(result),
            "structure_checks": checks_of(result, *registry.categories(ARCHITECTURE)),
            "own_sections": own_sections(result),
            "training": training(result), "error": error(result), "footer": footer(result),
            "warnings": [plain(w) for w in result.warnings], "summary": plain(result.summary),
            "environment": environment(result),
            "other_models": other_models(result), "review": review_items(result),
            "answers": answer_view.answers(result), "overrides": answer_view.overrides(result)}


def review_items(result: Result) -> list[dict]:
    """``Result.review`` for the report's "flagged for review" box (``grader.render.review``)."""
    return [{"where": review.where(e), "message": plain(str(e.get("message", ""))),
             "code": plain(str(e.get("code", "")))} for e in result.review]


def own_sections(result: Result) -> list[dict]:
    """A section per kind that shows its checks on their own (``OWN``), where it has some;
    a category no registered kind makes (a result of another grader) is shown there too."""
    placed = {c for section in (ADDED, ARCHITECTURE, TRAINING, ANSWERS)
              for c in registry.categories(section)}
    out = []
    for category in dict.fromkeys(c.category for c in result.checks if c.category not in placed):
        kind = registry.by_category(category)
        out.append({"category": category, "title": kind.title if kind else category,
                    "checks": checks_of(result, category)})
    return out


def environment(result: Result) -> dict | None:
    """What ran differently from the student's own machine: the Keras 1/2 compatibility layer
    and its mappings, and the environment lines that were neutralized."""
    compat = result.compat if isinstance(result.compat, dict) else None
    neutralized = [plain(n) for n in result.neutralized]
    if compat is None and not neutralized:
        return None
    mappings = [plain(m) for m in compat.get("mappings", [])] if compat else []
    return {"compat": compat is not None, "mappings": mappings, "neutralized": neutralized}


def other_models(result: Result) -> list[dict]:
    """The models found but not graded, each with why (shown beside the graded variable)."""
    return [{"variable": plain(m.get("variable")),
             "why": plain(f"{m.get('model_class') or 'model'}: {m.get('reason') or m.get('error_kind')}")}
            for m in result.other_models if isinstance(m, dict)]


def index(results: list[Result], links: dict[str, str]) -> dict:
    """The batch overview: counts per status, the score distribution, one row per submission."""
    counts = {s.value: sum(r.status is s for r in results) for s in Status}
    graded = [r for r in results if r.status in (Status.PASSED, Status.FAILED)]
    max_score = max((r.max_score for r in results), default=0.0)
    rows = []
    for r in sorted(results, key=lambda r: r.submission.lower()):
        problem = plain(mistake_words(r)) if r.error is None else f"{r.error.kind}: {plain(r.error.message)}"
        rows.append({"name": r.submission, "href": links.get(r.submission), "status": r.status.value,
                     "verdict": VERDICTS[r.status][0], "score": f"{r.score:g}",
                     "max_score": f"{r.max_score:g}", "score_key": r.score,
                     "problem": problem, "summary": plain(r.summary),
                     "origin": origin_line(r), "review": review.short(r.review),
                     "pending": ", ".join(plain(q) for q in r.manual_pending)})
    try:
        histogram = plots.score_histogram([r.score for r in graded], max_score)
    except (ValueError, TypeError, OverflowError, RuntimeError):
        histogram = None
    return {"counts": counts, "total": len(results), "rows": rows, "histogram": histogram,
            "graded": len(graded), "not_graded": len(results) - len(graded)}
