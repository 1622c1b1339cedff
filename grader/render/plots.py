"""Plots for the HTML report, drawn with matplotlib as SVG data URIs.

The SVG goes into an ``<img>`` (never inlined into the page), so whatever text a figure holds
cannot run as script. Labels are the grader's own words: keys from a student's history are
matched against known metric names, never printed into a figure. ``pyplot`` is not used (no
global figure state, safe in threads); matplotlib is imported only when a plot is drawn.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Any, TypeGuard

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


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float, ncols: int = 1):
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "grader"  # stable ids: the same result, the same file
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def curves(history: dict | None, accuracy_range: list | None = None) -> str | None:
    """Accuracy and loss per epoch, training and validation, as a data URI; None if no curve.

    ``accuracy_range`` ([low, high]) is drawn as a band on the accuracy plot.
    """
    found = series(history)
    if not found:
        return None
    fig, axes = _figure(4.2 * len(found), 3.0, len(found))
    for ax, (family, lines) in zip(axes, found.items(), strict=False):
        for label, color, marker in (("training", TRAIN_COLOR, "o"), ("validation", VAL_COLOR, "s")):
            if label in lines:
                ys = lines[label]
                ax.plot(range(1, len(ys) + 1), ys, color=color, label=label,
                        marker=marker if len(ys) <= MARKERS_UP_TO else None, markersize=4)
        if family == "accuracy" and _valid_range(accuracy_range):
            lo, hi = accuracy_range
            ax.axhspan(lo, min(hi, 1.0), color=BAND_COLOR, alpha=0.15,
                       label=f"required range ({lo:.2f}–{hi:.2f})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(family)
        ax.set_title(family.capitalize())
        _epoch_axis(ax, max(len(ys) for ys in lines.values()))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _data_uri(fig)


def _epoch_axis(ax, epochs: int) -> None:
    """Whole epochs on the x axis, also for a run of one epoch."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(0.5, epochs + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _valid_range(rng: Any) -> TypeGuard[list | tuple]:
    return isinstance(rng, (list, tuple)) and len(rng) == 2 and \
        all(isinstance(x, (int, float)) and math.isfinite(x) for x in rng) and rng[0] <= rng[1]


def score_histogram(scores: list[float], max_score: float) -> str | None:
    """How many submissions got each score (bins of one point), as a data URI."""
    if not scores:
        return None
    top = max([max_score, *scores, 1.0])
    fig, (ax,) = _figure(6.0, 2.6)
    bins = [b - 0.5 for b in range(0, int(math.ceil(top)) + 2)]
    ax.hist(scores, bins=bins, color=TRAIN_COLOR, edgecolor="white", rwidth=0.85)
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlim(-0.5, top + 0.5)
    ax.grid(axis="y", alpha=0.3)
    return _data_uri(fig)


def time_histogram(seconds: list[float]) -> str | None:
    """How long grading took per submission (whole batch's spread: a slow notebook stands out)."""
    if not seconds:
        return None
    fig, (ax,) = _figure(6.0, 2.6)
    ax.hist(seconds, bins=min(20, max(5, len(seconds))), color=VAL_COLOR, edgecolor="white",
            rwidth=0.85)
    ax.set_xlabel("seconds per submission (execution and verification)")
    ax.set_ylabel("submissions")
    ax.set_title("Grading time distribution")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return _data_uri(fig)


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
    fig, (ax,) = _figure(6.4, 3.2)
    others = iter(NETWORK_COLORS)
    for line, ys in drawn:
        style = line.get("style")
        color = TRAIN_COLOR if style in ("student", "own") else next(others, "#7f7f7f")
        ax.plot(range(1, len(ys) + 1), ys, color=color, label=str(line.get("label", ""))[:80],
                linestyle="--" if style == "own" else "-",
                marker="D" if style == "student" else ("o" if len(ys) <= MARKERS_UP_TO else None),
                markersize=8 if style == "student" else 3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Validation accuracy per epoch")
    _epoch_axis(ax, max(len(ys) for _, ys in drawn))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _data_uri(fig)


def cohort_accuracy(accuracies: list[float], marks: list[tuple[str, float]]) -> str | None:
    """The cohort's verification accuracies as a histogram, each baseline a vertical line."""
    if not accuracies:
        return None
    fig, (ax,) = _figure(6.0, 2.6)
    ax.hist(accuracies, bins=min(20, max(5, len(accuracies))), color=TRAIN_COLOR,
            edgecolor="white", rwidth=0.85, label="the cohort's networks (grader)")
    for (label, value), color in zip(marks, NETWORK_COLORS, strict=False):
        ax.axvline(value, color=color, linestyle="--", label=f"{label[:60]} ({value:.3f})")
    ax.set_xlabel("validation accuracy (the grader's verification training)")
    ax.set_ylabel("submissions")
    ax.set_title("The cohort beside the course's networks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _data_uri(fig)
