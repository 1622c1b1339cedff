"""The report's figures drawn as plain SVG (``grader.render.svg``): readable, faithful to the
data, the same bytes for the same data, and no way for text to become markup."""
from __future__ import annotations

import base64
import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from grader.render import plots, svg

NS = "{http://www.w3.org/2000/svg}"


def decode(uri: str) -> ET.Element:
    head, _, body = uri.partition(",")
    assert head == "data:image/svg+xml;base64"
    return ET.fromstring(base64.b64decode(body))


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


@pytest.mark.parametrize(("low", "high", "integer", "expected"), [
    (0.0, 1.0, False, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.86, 0.94, False, [0.86, 0.88, 0.9, 0.92, 0.94]),
    (0.5, 1.5, True, [1.0]),
    (-0.5, 24.5, True, [0.0, 5.0, 10.0, 15.0, 20.0]),
    (0.5, 8.5, True, [2.0, 4.0, 6.0, 8.0]),
])
def test_ticks_are_round_values_inside_the_range(low, high, integer, expected):
    assert svg.ticks(low, high, integer) == pytest.approx(expected)


def test_a_histogram_counts_every_value_once_and_the_largest_in_the_last_bin():
    edges, counts = svg.histogram([1.0, 2.0, 2.0, 3.0, 5.0], 4)
    assert edges == [1.0, 2.0, 3.0, 4.0, 5.0] and counts == [1, 2, 1, 1]
    assert svg.histogram([7.0, 7.0], 5)[1] == [0, 0, 2, 0, 0]  # one value: a bin around it


def test_the_training_curves_plot_each_epoch_as_a_marker_and_label_both_panels():
    root = decode(plots.curves({"accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.6, 0.8, 0.9],
                                "loss": [1.0, 0.5, 0.3]}, [0.86, 1.0]))
    shown = texts(root)
    for label in ("Accuracy", "Loss", "epoch", "training", "validation",
                  "required range (0.86–1.00)"):
        assert label in shown
    assert len(list(root.iter(f"{NS}circle"))) == 3 + 3 + 2  # training points + legend markers
    assert len(list(root.iter(f"{NS}polyline"))) == 3


def test_a_nan_in_a_curve_leaves_a_gap_not_a_line_through_it():
    root = decode(plots.curves({"accuracy": [0.5, math.nan, 0.7, 0.8]}))
    lines = [p.get("points", "").split() for p in root.iter(f"{NS}polyline")]
    assert sorted(len(points) for points in lines) == [1, 2]


def test_the_same_data_gives_the_same_bytes_in_another_process():
    code = ("from grader.render import plots; print(plots.curves({'accuracy': [0.5, 0.9], "
            "'val_loss': [1.0, 0.4]}, [0.86, 1.0]))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "random", "PATH": "/usr/bin"})
    assert other.stdout.strip() == plots.curves({"accuracy": [0.5, 0.9], "val_loss": [1.0, 0.4]},
                                                [0.86, 1.0])


def test_text_in_a_figure_is_escaped_and_never_becomes_markup():
    uri = plots.comparison([{"label": "<script>alert(1)</script> & co", "values": [0.9, 0.95],
                             "style": "grader"}])
    root = decode(uri)  # parses: the label did not break the document
    assert "<script>alert(1)</script> & co" in texts(root)
    assert not list(root.iter(f"{NS}script")) and b"<script" not in base64.b64decode(uri.split(",")[1])


def test_the_score_histogram_has_a_bar_per_score_and_counts_on_whole_numbers():
    root = decode(plots.score_histogram([24.5, 24.5, 0.0, 20.5], 24.5))
    bars = [r for r in root.iter(f"{NS}rect") if r.get("fill") == plots.TRAIN_COLOR]
    heights = sorted(float(r.get("height", 0)) for r in bars if float(r.get("height", 0)) > 0)
    assert len(heights) == 3 and heights[0] == pytest.approx(heights[1]) and heights[2] > heights[0]
    assert "score (out of 24.5)" in texts(root) and "1.5" not in texts(root)


def test_drawing_a_report_figure_imports_no_matplotlib():
    code = ("import sys; from grader.render import plots; plots.curves({'accuracy': [0.5]}); "
            "plots.cohort_accuracy([0.9, 0.8], [('cnn1', 0.95)]); print('matplotlib' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_control_characters_in_a_label_leave_a_figure_that_parses():
    root = decode(plots.comparison([{"label": "a\x0cb\x00c", "values": [0.9], "style": "grader"}]))
    assert "abc" in texts(root)


@pytest.mark.parametrize("values", [[1e16, 1e16], [0.0], [-3.0, -3.0], [1e-300, 2e-300]])
def test_a_histogram_of_equal_or_extreme_values_is_drawn(values):
    assert decode(plots.time_histogram(values)) is not None
    assert decode(plots.cohort_accuracy(values, [("cnn1", 0.95)])) is not None


def test_the_legend_keeps_off_the_tallest_bars():
    root = decode(plots.cohort_accuracy([0.99] * 9 + [0.5], [("fc NN", 0.91)]))
    legend = next(r for r in root.iter(f"{NS}rect") if r.get("stroke") == "#ccc")
    x0, y0 = float(legend.get("x")), float(legend.get("y"))
    x1, y1 = x0 + float(legend.get("width")), y0 + float(legend.get("height"))
    for bar in (r for r in root.iter(f"{NS}rect") if r.get("fill") == plots.TRAIN_COLOR
                and r.get("stroke") is None and r.get("width") != "20"):
        left, top = float(bar.get("x")), float(bar.get("y"))
        right = left + float(bar.get("width"))
        assert right < x0 or left > x1 or top > y1, "the legend hides a bar's top"
