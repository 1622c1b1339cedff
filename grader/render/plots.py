"""Plots for the HTML report, drawn as SVG data URIs (``grader.render.svg``).

The SVG goes into an ``<img>`` (never inlined into the page), so whatever text a figure holds
cannot run as script. Labels are the grader's own words: keys from a student's history are
matched against known metric names, never printed into a figure. No global state: safe in
threads.
"""
from __future__ import annotations

import base64
import math
from typing import Any, TypeGuard

from grader.render import svg

#: longest curve plotted; a history longer than this is cut (it can only come from tampering)
MAX_POINTS = 2000
#: metric families and the keys that may hold them, with the grader's label for each
CURVES = {
    "accuracy": (("accuracy", "acc"), ("val_accuracy", "val_acc")),
    "loss": (("loss",), ("val_loss",)),
}
#: longer curves are drawn as plain lines (a marker per point would only blur them)
MARKERS_UP_TO = 60
TRAIN_COLOR, VAL_COLOR, BAND_COLOR = "#1f77b4", "#d62728", "#2ca02c"


def numbers(values: Any) -> list[float] | None:
    """A list of finite floats (NaN marks a gap), or None when ``values`` is not a curve."""
    if not isinstance(values, (list, tuple)) or not values:
        return None
    out = []
    for v in values[:MAX_POINTS]:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        out.append(float(v) if ok and abs(v) < 1e12 else math.nan)
    return out if any(not math.isnan(v) for v in out) else None


def series(history: dict | None) -> dict[str, dict[str, list[float]]]:
    """``{"accuracy": {"training": [...], "validation": [...]}, "loss": {...}}``, known keys only."""
    found: dict[str, dict[str, list[float]]] = {}
    if not isinstance(history, dict):
        return found
    for family, (train_keys, val_keys) in CURVES.items():
        for label, keys in (("training", train_keys), ("validation", val_keys)):
            curve = next((numbers(history[k]) for k in keys if numbers(history.get(k))), None)
            if curve:
                found.setdefault(family, {})[label] = curve
    return found


def _data_uri(panels: list[svg.Chart]) -> str:
    document = svg.figure(panels).encode("utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(document).decode("ascii")


def curves(history: dict | None, accuracy_range: list | None = None) -> str | None:
    """Accuracy and loss per epoch, training and validation, as a data URI; None if no curve.

    ``accuracy_range`` ([low, high]) is drawn as a band on the accuracy plot.
    """
    found = series(history)
    if not found:
        return None
    panels = []
    for family, lines in found.items():
        chart = svg.Chart(400, 290, family.capitalize(), "epoch", family)
        if family == "accuracy" and _valid_range(accuracy_range):
            lo, hi = accuracy_range
            chart.band(lo, min(hi, 1.0), BAND_COLOR, 0.15, f"required range ({lo:.2f}–{hi:.2f})")
        for label, color, marker in (("training", TRAIN_COLOR, "o"), ("validation", VAL_COLOR, "s")):
            if label in lines:
                ys = lines[label]
                chart.line(_epochs(ys), ys, color, label,
                           marker=marker if len(ys) <= MARKERS_UP_TO else None)
        _epoch_axis(chart, max(len(ys) for ys in lines.values()))
        chart.legend = True
        panels.append(chart)
    return _data_uri(panels)


def _epochs(ys: list[float]) -> list[float]:
    return [float(i) for i in range(1, len(ys) + 1)]


def _epoch_axis(chart: svg.Chart, epochs: int) -> None:
    """Whole epochs on the x axis, also for a run of one epoch."""
    chart.xlim = (0.5, epochs + 0.5)
    chart.integer_x = True


def _valid_range(rng: Any) -> TypeGuard[list | tuple]:
    return isinstance(rng, (list, tuple)) and len(rng) == 2 and \
        all(isinstance(x, (int, float)) and math.isfinite(x) for x in rng) and rng[0] <= rng[1]


def score_histogram(scores: list[float], max_score: float) -> str | None:
    """How many submissions got each score (bins of one point), as a data URI."""
    if not scores:
        return None
    top = max([max_score, *scores, 1.0])
    chart = _histogram_chart(f"score (out of {max_score:g})", "Score distribution")
    edges = [b - 0.5 for b in range(0, int(math.ceil(top)) + 2)]
    counts = [sum(1 for s in scores if a <= s < b) for a, b in zip(edges, edges[1:], strict=False)]
    chart.bars(edges, counts, TRAIN_COLOR)
    chart.xlim, chart.integer_x = (-0.5, top + 0.5), True
    return _data_uri([chart])


def time_histogram(seconds: list[float]) -> str | None:
    """How long grading took per submission (whole batch's spread: a slow notebook stands out)."""
    if not seconds:
        return None
    chart = _histogram_chart("seconds per submission (execution and verification)",
                             "Grading time distribution")
    chart.bars(*svg.histogram(seconds, min(20, max(5, len(seconds)))), VAL_COLOR)
    return _data_uri([chart])


def _histogram_chart(xlabel: str, title: str) -> svg.Chart:
    chart = svg.Chart(600, 260, title, xlabel, "submissions")
    chart.grid_x, chart.integer_y = False, True
    return chart


#: line colours of the networks compared (the student's network is always ``TRAIN_COLOR``)
NETWORK_COLORS = ("#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f", "#17becf")


def comparison(lines: list[dict]) -> str | None:
    """Validation accuracy per epoch of several networks in one plot, as a data URI.

    Each line: ``{"label", "values", "style"}``; ``style`` is ``"grader"`` (a solid line: the
    grader's training), ``"student"`` (the student's network trained by the grader: large
    markers) or ``"own"`` (the student's own logged run: dashed). Labels are the grader's
    words (the exercise's declared titles), never a student's.
    """
    drawn: list[tuple[dict, list[float]]] = []
    for line in lines:
        ys = numbers(line.get("values"))
        if ys:
            drawn.append((line, ys))
    if not drawn:
        return None
    chart = svg.Chart(640, 320, "Validation accuracy per epoch", "epoch", "validation accuracy")
    others = iter(NETWORK_COLORS)
    for line, ys in drawn:
        style = line.get("style")
        color = TRAIN_COLOR if style in ("student", "own") else next(others, "#7f7f7f")
        chart.line(_epochs(ys), ys, color, str(line.get("label", ""))[:80],
                   marker="D" if style == "student" else ("o" if len(ys) <= MARKERS_UP_TO else None),
                   marker_size=8 if style == "student" else 3, dashed=style == "own")
    _epoch_axis(chart, max(len(ys) for _, ys in drawn))
    chart.legend = True
    return _data_uri([chart])


def cohort_accuracy(accuracies: list[float], marks: list[tuple[str, float]]) -> str | None:
    """The cohort's verification accuracies as a histogram, each baseline a vertical line."""
    if not accuracies:
        return None
    chart = _histogram_chart("validation accuracy (the grader's verification training)",
                             "The cohort beside the course's networks")
    chart.bars(*svg.histogram(accuracies, min(20, max(5, len(accuracies)))), TRAIN_COLOR,
               label="the cohort's networks (grader)")
    for (label, value), color in zip(marks, NETWORK_COLORS, strict=False):
        chart.vline(value, color, f"{label[:60]} ({value:.3f})")
    chart.legend = True
    return _data_uri([chart])
