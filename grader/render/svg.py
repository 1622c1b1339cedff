"""A small SVG chart: lines, bands, bars and marker lines on one pair of axes, side by side.

The report's figures are simple (a few short curves, a histogram), and drawing them with
matplotlib cost a check 0.55 s (its import and two ``savefig`` calls: a tenth of a warm check)
and every batch worker its memory. This draws the same figures as plain SVG text, in
milliseconds, with the same guarantees: the output depends only on the data (the same result,
the same file), and every text is XML-escaped (a figure is also only ever shown through an
``<img>``, where no script runs).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from xml.sax import saxutils

FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
#: the plot area's margins inside a panel: left (tick labels, axis label), right, top, bottom
LEFT, RIGHT, TOP, BOTTOM = 58.0, 12.0, 28.0, 42.0
CHAR = 6.2  # the average width of a character at 11 px, for the legend's box


@dataclass
class Series:
    kind: str  # "line", "band", "bars", "vline"
    color: str
    label: str | None = None
    points: list[tuple[float, float]] = field(default_factory=list)
    marker: str | None = None  # "o", "s", "D"
    marker_size: float = 4.0
    dashed: bool = False
    opacity: float = 1.0


class Chart:
    """One panel: collect series, then ``svg`` lays out the axes around what they hold."""

    def __init__(self, width: float, height: float, title: str = "", xlabel: str = "",
                 ylabel: str = "") -> None:
        self.width, self.height = width, height
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.series: list[Series] = []
        self.xlim: tuple[float, float] | None = None
        self.ylim: tuple[float, float] | None = None
        self.integer_x = self.integer_y = False
        self.legend = False
        #: vertical grid lines too (a curve's epochs); histograms have horizontal ones only
        self.grid_x = True

    def line(self, xs: list[float], ys: list[float], color: str, label: str | None = None,
             marker: str | None = None, marker_size: float = 4.0, dashed: bool = False) -> None:
        """A polyline; a NaN in ``ys`` leaves a gap."""
        self.series.append(Series("line", color, label, list(zip(xs, ys, strict=True)), marker,
                                  marker_size, dashed))

    def band(self, low: float, high: float, color: str, opacity: float, label: str) -> None:
        """A horizontal band across the whole width (e.g. the required accuracy range)."""
        self.series.append(Series("band", color, label, [(math.nan, low), (math.nan, high)],
                                  opacity=opacity))

    def bars(self, edges: list[float], counts: list[int], color: str, label: str | None = None,
             width: float = 0.85) -> None:
        """A histogram: ``counts[i]`` between ``edges[i]`` and ``edges[i + 1]``."""
        points = [(edges[i], float(c)) for i, c in enumerate(counts)] + [(edges[-1], 0.0)]
        self.series.append(Series("bars", color, label, points, opacity=width))

    def vline(self, x: float, color: str, label: str) -> None:
        self.series.append(Series("vline", color, label, [(x, math.nan)], dashed=True))

    # -- layout ----------------------------------------------------------------------------------

    def _limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        xs = [x for s in self.series for x, _ in s.points if math.isfinite(x)]
        ys = [y for s in self.series for _, y in s.points if math.isfinite(y)]
        if any(s.kind == "bars" for s in self.series):
            ys.append(0.0)
        xlim = self.xlim or _pad(xs)
        ylim = self.ylim or _pad(ys)
        if any(s.kind == "bars" for s in self.series) and self.ylim is None:
            ylim = (0.0, ylim[1])  # bars stand on the axis
        return xlim, ylim

    def svg(self, dx: float = 0.0) -> str:
        """The panel's elements, shifted right by ``dx`` (for side-by-side panels)."""
        (x0, x1), (y0, y1) = self._limits()
        left, right = dx + LEFT, dx + self.width - RIGHT
        top, bottom = TOP, self.height - BOTTOM

        def px(x: float) -> float:
            return left + (x - x0) / (x1 - x0) * (right - left)

        def py(y: float) -> float:
            return bottom - (y - y0) / (y1 - y0) * (bottom - top)

        out = [f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
               f'height="{bottom - top:.1f}" fill="#fff" stroke="#333" stroke-width="0.8"/>']
        for value in ticks(x0, x1, self.integer_x):
            if self.grid_x:
                out.append(_grid(px(value), top, px(value), bottom))
            out.append(_text(px(value), bottom + 14, _fmt(value), "middle"))
        for value in ticks(y0, y1, self.integer_y):
            out.append(_grid(left, py(value), right, py(value)))
            out.append(_text(left - 5, py(value) + 4, _fmt(value), "end"))
        clip = f"panel{int(dx)}"  # unique within the figure, the same in every run
        out.append(f'<clipPath id="{clip}"><rect x="{left:.1f}" y="{top:.1f}" '
                   f'width="{right - left:.1f}" height="{bottom - top:.1f}"/></clipPath>')
        out.append(f'<g clip-path="url(#{clip})">')
        for series in self.series:
            out += _draw(series, px, py, left, right, top, bottom)
        out.append("</g>")
        out.append(_text((left + right) / 2, 18, self.title, "middle", 13))
        out.append(_text((left + right) / 2, self.height - 8, self.xlabel, "middle"))
        mid = (top + bottom) / 2
        out.append(f'<text x="{dx + 14:.1f}" y="{mid:.1f}" font-size="11" text-anchor="middle" '
                   f'transform="rotate(-90 {dx + 14:.1f} {mid:.1f})">{escape(self.ylabel)}</text>')
        if self.legend:
            data = self._drawn(px, py, top, bottom)
            out += _legend([s for s in self.series if s.label], (left, top, right, bottom), data)
        return "\n".join(o for o in out if o)


    def _drawn(self, px, py, top: float, bottom: float) -> list[tuple[float, float]]:
        """Points that show data, for the legend to avoid: the lines' points, the tops of
        the bars (three along each), and points down each vertical line."""
        found: list[tuple[float, float]] = []
        for s in self.series:
            if s.kind == "line":
                found += [(px(x), py(y)) for x, y in s.points if math.isfinite(y)]
            elif s.kind == "bars":
                for (a, count), (b, _) in zip(s.points, s.points[1:], strict=False):
                    if count > 0:
                        found += [(px(a + (b - a) * f), py(count)) for f in (0.1, 0.5, 0.9)]
            elif s.kind == "vline":
                x = px(s.points[0][0])
                found += [(x, top + (bottom - top) * i / 8) for i in range(9)]
        return found


def figure(panels: list[Chart]) -> str:
    """Panels side by side as one SVG document."""
    width = sum(p.width for p in panels)
    height = max(p.height for p in panels)
    body, dx = [], 0.0
    for panel in panels:
        body.append(panel.svg(dx))
        dx += panel.width
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" fill="#222">\n'
            + "\n".join(body) + "\n</svg>\n")


def ticks(low: float, high: float, integer: bool = False, target: int = 5) -> list[float]:
    """Round values between ``low`` and ``high``: steps of 1, 2, 2.5 or 5 times a power of 10."""
    span = high - low
    if not span > 0 or not math.isfinite(span):
        return [low]
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * power for m in steps if m * power >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    first = math.ceil(low / step - 1e-9) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(max(count, 0))]


def histogram(values: list[float], bins: int) -> tuple[list[float], list[int]]:
    """Equal-width bins over the values' range (one unit wide around a single value)."""
    low, high = _widen(min(values), max(values))
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)] + [high]
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / width), bins - 1)] += 1
    return edges, counts


def _pad(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = _widen(min(values), max(values))
    margin = (high - low) * 0.05
    return low - margin, high + margin


def _widen(low: float, high: float) -> tuple[float, float]:
    """A range of non-zero width around a single value, also where ±0.5 is lost in rounding."""
    if high - low > 1e-12 * max(1.0, abs(low), abs(high)):
        return low, high
    half = max(0.5, abs(low) * 1e-6)
    return low - half, high + half


def _draw(s: Series, px, py, left: float, right: float, top: float, bottom: float) -> list[str]:
    dash = ' stroke-dasharray="5 3"' if s.dashed else ""
    if s.kind == "band":
        (_, low), (_, high) = s.points
        y_top, y_low = py(high), py(low)
        return [f'<rect x="{left:.1f}" y="{y_top:.1f}" width="{right - left:.1f}" '
                f'height="{max(y_low - y_top, 0):.1f}" fill="{s.color}" fill-opacity="{s.opacity}"/>']
    if s.kind == "vline":
        x = px(s.points[0][0])
        return [f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
                f'stroke="{s.color}" stroke-width="1.5"{dash}/>']
    if s.kind == "bars":
        out = []
        for (x_a, count), (x_b, _) in zip(s.points, s.points[1:], strict=False):
            if count <= 0:
                continue
            a, b = px(x_a), px(x_b)
            gap = (b - a) * (1 - s.opacity) / 2
            y = py(count)
            out.append(f'<rect x="{a + gap:.1f}" y="{y:.1f}" width="{max(b - a - 2 * gap, 0):.1f}" '
                       f'height="{max(py(0) - y, 0):.1f}" fill="{s.color}"/>')
        return out
    out = []
    for run in _runs(s.points):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
        out.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" '
                   f'stroke-width="1.5"{dash}/>')
        if s.marker:
            out += [_marker(s.marker, px(x), py(y), s.marker_size, s.color) for x, y in run]
    return out


def _runs(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The stretches of a line between NaN gaps."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if math.isfinite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _marker(kind: str, x: float, y: float, size: float, color: str) -> str:
    r = size / 2 + 0.5
    if kind == "s":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" fill="{color}"/>'
    if kind == "D":
        return (f'<polygon points="{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} '
                f'{x - r:.1f},{y:.1f}" fill="{color}"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{color}"/>'


def _legend(entries: list[Series], area: tuple[float, float, float, float],
            data: list[tuple[float, float]]) -> list[str]:
    """The legend in the corner of the plot area that hides the fewest points of the lines."""
    if not entries:
        return []
    left, top, right, bottom = area
    width, height = 34 + CHAR * max(len(e.label or "") for e in entries), 16 * len(entries) + 6
    corners = [(right - width - 6, top + 6), (right - width - 6, bottom - height - 6),
               (left + 6, bottom - height - 6), (left + 6, top + 6)]

    def hidden(corner: tuple[float, float]) -> int:
        cx, cy = corner
        return sum(1 for px_, py_ in data if cx - 4 <= px_ <= cx + width + 4
                   and cy - 4 <= py_ <= cy + height + 4)

    x, y = min(corners, key=hidden)  # the first of equals: upper right, as matplotlib's "best"
    out = [f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" '
           'fill="#fff" fill-opacity="0.85" stroke="#ccc"/>']
    for i, entry in enumerate(entries):
        cy = y + 12 + 16 * i
        if entry.kind in ("band", "bars"):
            out.append(f'<rect x="{x + 6:.1f}" y="{cy - 5:.1f}" width="20" height="10" '
                       f'fill="{entry.color}" fill-opacity="{entry.opacity if entry.kind == "band" else 1}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if entry.dashed else ""
            out.append(f'<line x1="{x + 6:.1f}" y1="{cy:.1f}" x2="{x + 26:.1f}" y2="{cy:.1f}" '
                       f'stroke="{entry.color}" stroke-width="1.5"{dash}/>')
            if entry.marker:
                out.append(_marker(entry.marker, x + 16, cy, entry.marker_size, entry.color))
        out.append(_text(x + 30, cy + 4, entry.label or "", "start", 10))
    return out


def _grid(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#ccc" '
            'stroke-width="0.6"/>')


def _text(x: float, y: float, text: str, anchor: str, size: int = 11) -> str:
    if not text:
        return ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
            f"{escape(text)}</text>")


def _fmt(value: float) -> str:
    if abs(value) >= 1e5:
        return f"{value:.4g}"
    return f"{value:.6g}" if value != int(value) else str(int(value))


#: characters XML 1.0 does not allow: one would make the whole figure unreadable
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` as XML character data: markup escaped, characters XML forbids removed."""
    return saxutils.escape(_NOT_XML.sub("", text))
