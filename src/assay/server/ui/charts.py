"""Charts drawn on the server as inline SVG, readable without JavaScript.

Each function takes plain numbers and returns the ``<svg>`` element as
:class:`~markupsafe.Markup`, ready to drop into a template:

- :func:`line_chart`: rates or values over time, one line per series, with an optional
  band (a 95% interval) around each line; a gap where a bucket has no value.
- :func:`column_chart`: counts over time (trace volume), each column with an optional
  highlighted part (the traces with feedback).
- :func:`bar_list`: horizontal bars for categories or segments, with an optional interval
  whisker on each bar.
- :func:`rating_distribution`: how often each rating value was given.

Every chart has a ``<title>`` (its accessible name, by ``aria-labelledby``) and a ``<desc>``
(its summary, by ``aria-describedby``), every mark
a ``<title>`` the browser shows on hover, and the values the chart is about written as
text, so the page stays readable by screen readers and without styles. Colours are
presentation attributes (classes let a stylesheet refine them). The pages show the same
numbers in a table beside or under each chart.

All functions are pure: same input, same SVG.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

__all__ = [
    "Bar",
    "Column",
    "Point",
    "Series",
    "TimeAxis",
    "Unit",
    "bar_list",
    "column_chart",
    "format_value",
    "line_chart",
    "nice_ticks",
    "rating_distribution",
]

Unit = Literal["percent", "count", "number"]
Tone = Literal["accent", "good", "bad", "warn", "muted"]

#: Fill and stroke of each tone (the stylesheet's palette).
_TONES: dict[str, str] = {
    "accent": "#2f5bd3",
    "good": "#12773d",
    "bad": "#b42318",
    "warn": "#b26b00",
    "muted": "#98a2b3",
}
_TEXT = "#1c2230"
_MUTED = "#667085"
_GRID = "#e3e6eb"
_FONT = 11
_HOUR_MS = 3_600_000
_DASH = "\u2013"  # an en dash, for ranges and missing values


@dataclass(frozen=True)
class TimeAxis:
    """Consecutive time buckets: ``count`` of them, ``bucket_ms`` wide, from ``start_ms``."""

    start_ms: int
    bucket_ms: int
    count: int

    def starts(self) -> list[int]:
        """The start of each bucket, ms since the epoch."""
        return [self.start_ms + i * self.bucket_ms for i in range(self.count)]

    def index(self, ms: int) -> int | None:
        """The bucket ``ms`` falls in, or None outside the axis."""
        i = (ms - self.start_ms) // self.bucket_ms
        return i if 0 <= i < self.count else None

    def label(self, ms: int, *, long: bool = False) -> str:
        """A bucket's start as axis text (``Mar 03 14:00`` for hours, ``Mar 03`` otherwise);
        ``long`` adds the year (for tooltips)."""
        when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
        if self.bucket_ms < 24 * _HOUR_MS:
            text = when.strftime("%b %d %H:%M")
        else:
            text = when.strftime("%b %d")
        if long:
            text = when.strftime("%Y ") + text
            if self.bucket_ms >= 7 * 24 * _HOUR_MS:
                text = "week of " + text
            text += " UTC" if self.bucket_ms < 24 * _HOUR_MS else ""
        return text


@dataclass(frozen=True)
class Point:
    """One value of a series in one time bucket; ``low``/``high``: its interval."""

    x_ms: int
    value: float | None
    low: float | None = None
    high: float | None = None
    #: What the tooltip adds after the value, e.g. ``"18 of 25"``.
    note: str = ""


@dataclass(frozen=True)
class Series:
    """A named line of points."""

    name: str
    points: Sequence[Point]
    tone: Tone = "accent"
    #: Whether to shade the points' intervals.
    band: bool = True


@dataclass(frozen=True)
class Column:
    """One time bucket of a column chart: its total and the highlighted part of it."""

    x_ms: int
    total: float
    part: float | None = None


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a label, a value and optionally its interval and a note."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    #: Muted text after the value, e.g. ``"n = 25"``.
    note: str = ""
    href: str | None = None
    tone: Tone = "accent"
    #: This bar's full scale when bars of one chart measure on different scales (a 0-1
    #: score beside a 1-5 rating); None: the chart's.
    scale: float | None = None


def format_value(value: float | None, unit: Unit) -> str:
    """A value as a chart writes it: ``72%``, ``1,204``, ``3.4``; a dash for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _DASH
    if unit == "percent":
        percent = value * 100
        return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.1f}%"
    if unit == "count" or float(value).is_integer():
        return f"{round(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"


def nice_ticks(high: float, unit: Unit, max_ticks: int = 5) -> list[float]:
    """Round axis values from 0 to at least ``high``: 0 to 100% by quarters for rates, steps
    of 1, 2 or 5 times a power of ten otherwise."""
    if unit == "percent":
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    if high <= 0:
        return [0.0, 1.0]
    raw = high / (max_ticks - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if unit == "count":
        step = max(1.0, math.ceil(step))
    count = math.ceil(high / step - 1e-9)
    return [i * step for i in range(count + 1)]


# -- the charts ----------------------------------------------------------------------------

def line_chart(series: Sequence[Series], axis: TimeAxis, *, title: str, unit: Unit,
               description: str = "", width: int = 640, height: int = 200,
               key: str | None = None) -> Markup:
    """Series over time as lines, each with its interval as a band when given.

    A bucket without a value leaves a gap (no line is drawn through it). Hovering a bucket
    shows every series' value there.
    """
    frame = _Frame(width, height, left=44, right=12, top=22, bottom=24)
    values = [v for s in series for p in s.points
              for v in (p.value, p.high) if v is not None]
    ticks = nice_ticks(max(values, default=0.0), unit)
    y_max = ticks[-1] or 1.0
    slot = frame.plot_width / max(axis.count, 1)

    def x_of(ms: int) -> float | None:
        i = axis.index(ms)
        return None if i is None else frame.left + (i + 0.5) * slot

    def y_of(value: float) -> float:
        return frame.top + frame.plot_height * (1 - min(max(value / y_max, 0.0), 1.0))

    parts = [_y_grid(frame, ticks, unit, y_of), _x_labels(frame, axis, slot)]
    for s in series:
        color = _TONES[s.tone]
        ordered = sorted(s.points, key=lambda p: p.x_ms)
        banded = ordered if s.band else []
        for run in _runs(banded, lambda p: p.low is not None and p.high is not None):
            upper: list[tuple[float, float]] = []
            lower: list[tuple[float, float]] = []
            for p in run:
                bx = x_of(p.x_ms)
                if bx is not None and p.low is not None and p.high is not None:
                    upper.append((bx, y_of(p.high)))
                    lower.append((bx, y_of(p.low)))
            if len(upper) == 1:  # one bucket: a short band, a third of the slot wide
                (bx, yh), (_, yl) = upper[0], lower[0]
                upper = [(bx - slot / 6, yh), (bx + slot / 6, yh)]
                lower = [(bx - slot / 6, yl), (bx + slot / 6, yl)]
            if upper:
                polygon = " ".join(f"{x:.1f},{y:.1f}" for x, y in [*upper, *reversed(lower)])
                parts.append(f'<polygon class="chart-band" points="{polygon}" fill="{color}" '
                             'fill-opacity="0.14" stroke="none"/>')
        for run in _runs(ordered, lambda p: p.value is not None):
            located = [(lx, y_of(p.value)) for p in run
                       if (lx := x_of(p.x_ms)) is not None and p.value is not None]
            if len(located) > 1:
                path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
                                for i, (x, y) in enumerate(located))
                parts.append(f'<path class="chart-line" d="{path}" fill="none" '
                             f'stroke="{color}" stroke-width="2" stroke-linejoin="round"/>')
            for x, y in located:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{color}"/>')
    # One hover target per bucket, listing every series there.
    for i, start in enumerate(axis.starts()):
        lines = [axis.label(start, long=True)]
        for s in series:
            point = next((p for p in s.points if p.x_ms == start), None)
            if point is None or point.value is None:
                lines.append(f"{s.name}: no data")
                continue
            text = f"{s.name}: {format_value(point.value, unit)}"
            if point.low is not None and point.high is not None:
                text += (f" (95% interval {format_value(point.low, unit)}{_DASH}"
                         f"{format_value(point.high, unit)})")
            if point.note:
                text += f", {point.note}"
            lines.append(text)
        parts.append(f'<rect class="chart-hover" x="{frame.left + i * slot:.1f}" '
                     f'y="{frame.top}" width="{slot:.1f}" height="{frame.plot_height}" '
                     f'fill="transparent"><title>{escape(chr(10).join(lines))}</title></rect>')
    parts.append(_legend(frame, [(s.name, s.tone, "line") for s in series],
                         band=any(s.band and p.low is not None for s in series for p in s.points)))
    summary = description or _series_summary(series, unit)
    return _svg(frame, title, summary, parts, key, "line")


def column_chart(columns: Sequence[Column], axis: TimeAxis, *, title: str, total_name: str,
                 part_name: str | None = None, description: str = "", width: int = 640,
                 height: int = 160, key: str | None = None) -> Markup:
    """Counts over time as columns (``total_name``), each with a highlighted part
    (``part_name``) drawn over its lower end."""
    frame = _Frame(width, height, left=44, right=12, top=22, bottom=24)
    ticks = nice_ticks(max((c.total for c in columns), default=0.0), "count")
    y_max = ticks[-1] or 1.0
    slot = frame.plot_width / max(axis.count, 1)
    gap = min(slot * 0.2, 6.0)

    def y_of(value: float) -> float:
        return frame.top + frame.plot_height * (1 - min(max(value / y_max, 0.0), 1.0))

    parts = [_y_grid(frame, ticks, "count", y_of), _x_labels(frame, axis, slot)]
    for column in columns:
        i = axis.index(column.x_ms)
        if i is None:
            continue
        x = frame.left + i * slot + gap / 2
        w = max(slot - gap, 1.0)
        tip = [axis.label(column.x_ms, long=True),
               f"{total_name}: {format_value(column.total, 'count')}"]
        if part_name is not None and column.part is not None:
            share = f" ({format_value(column.part / column.total, 'percent')})" \
                if column.total else ""
            tip.append(f"{part_name}: {format_value(column.part, 'count')}{share}")
        y = y_of(column.total)
        parts.append(f'<g class="chart-column"><title>{escape(chr(10).join(tip))}</title>'
                     f'<rect x="{x:.1f}" y="{frame.top}" width="{w:.1f}" '
                     f'height="{frame.plot_height}" fill="transparent"/>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                     f'height="{frame.bottom_y - y:.1f}" fill="{_TONES["accent"]}" '
                     'fill-opacity="0.28"/>')
        if part_name is not None and column.part:
            yp = y_of(column.part)
            parts.append(f'<rect x="{x:.1f}" y="{yp:.1f}" width="{w:.1f}" '
                         f'height="{frame.bottom_y - yp:.1f}" fill="{_TONES["accent"]}"/>')
        parts.append("</g>")
    legend: list[tuple[str, Tone, str]] = [(total_name, "accent", "pale")]
    if part_name is not None:
        legend.append((part_name, "accent", "box"))
    parts.append(_legend(frame, legend))
    total = sum(c.total for c in columns)
    summary = description or (f"{format_value(total, 'count')} {total_name.lower()} in "
                              f"{axis.count} buckets")
    return _svg(frame, title, summary, parts, key, "columns")


def bar_list(bars: Sequence[Bar], *, title: str, unit: Unit, max_value: float | None = None,
             description: str = "", width: int = 520, label_width: int = 150,
             key: str | None = None) -> Markup:
    """Horizontal bars, one per row, with the value (and interval, note) written beside.

    ``max_value`` fixes the scale (1 for rates by default; the largest value otherwise).
    """
    row = 24
    frame = _Frame(width, 8 + row * max(len(bars), 1) + 4, left=label_width + 8, right=110,
                   top=8, bottom=4)
    if max_value is None:
        max_value = 1.0 if unit == "percent" else max(
            (max(b.value or 0.0, b.high or 0.0) for b in bars), default=0.0)
    scale = max_value or 1.0

    def x_of(value: float, of: float | None = None) -> float:
        return frame.left + frame.plot_width * min(max(value / (of or scale), 0.0), 1.0)

    parts: list[str] = []
    if unit == "percent":
        for tick in (0.25, 0.5, 0.75, 1.0):
            x = x_of(tick)
            parts.append(f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" '
                         f'y2="{frame.bottom_y}" stroke="{_GRID}" stroke-dasharray="2 3"/>')
    for i, bar in enumerate(bars):
        y = frame.top + i * row
        color = _TONES[bar.tone]
        value_text = format_value(bar.value, unit)
        tip = f"{bar.label}: {value_text}"
        if bar.low is not None and bar.high is not None:
            tip += (f" (95% interval {format_value(bar.low, unit)}"
                    f"{_DASH}{format_value(bar.high, unit)})")
        if bar.note:
            tip += f", {bar.note}"
        label = _clip(bar.label or "(none)", label_width)
        label_svg = (f'<text x="{label_width}" y="{y + row / 2 + 4:.1f}" text-anchor="end" '
                     f'font-size="{_FONT + 1}" fill="{_TEXT}">{escape(label)}</text>')
        if bar.href is not None:
            label_svg = f'<a href="{escape(bar.href)}">{label_svg}</a>'
        parts.append(f'<g class="chart-bar"><title>{escape(tip)}</title>{label_svg}')
        parts.append(f'<rect x="{frame.left}" y="{y + 4}" width="{frame.plot_width}" '
                     f'height="{row - 8}" fill="{_GRID}" fill-opacity="0.45"/>')
        if bar.value is not None:
            parts.append(f'<rect x="{frame.left}" y="{y + 4}" '
                         f'width="{x_of(bar.value, bar.scale) - frame.left:.1f}" '
                         f'height="{row - 8}" fill="{color}" fill-opacity="0.85"/>')
        if bar.low is not None and bar.high is not None:
            xl, xh, ym = x_of(bar.low, bar.scale), x_of(bar.high, bar.scale), y + row / 2
            parts.append(f'<path class="chart-whisker" d="M{xl:.1f},{ym:.1f} H{xh:.1f} '
                         f'M{xl:.1f},{ym - 5:.1f} V{ym + 5:.1f} M{xh:.1f},{ym - 5:.1f} '
                         f'V{ym + 5:.1f}" stroke="{_TEXT}" stroke-width="1.3" fill="none"/>')
        note = f' <tspan fill="{_MUTED}">{escape(bar.note)}</tspan>' if bar.note else ""
        parts.append(f'<text x="{frame.right_x + 8:.1f}" y="{y + row / 2 + 4:.1f}" '
                     f'font-size="{_FONT + 1}" fill="{_TEXT}">{escape(value_text)}{note}</text>')
        parts.append("</g>")
    if not bars:
        parts.append(f'<text x="{frame.left}" y="{frame.top + 14}" font-size="{_FONT + 1}" '
                     f'fill="{_MUTED}">No values</text>')
    summary = description or "; ".join(f"{b.label or '(none)'}: {format_value(b.value, unit)}"
                                       for b in bars[:20])
    return _svg(frame, title, summary, parts, key, "bars")


def rating_distribution(counts: Sequence[tuple[str, int]], *, title: str,
                        description: str = "", width: int = 160, height: int = 100,
                        key: str | None = None) -> Markup:
    """How often each rating was given: one column per value, lowest first, coloured from
    bad (the lowest) to good (the highest), each with its count on top and its label below
    (when there is no room for every label: the first, middle and last)."""
    frame = _Frame(width, height, left=8, right=8, top=16, bottom=20)
    total = sum(n for _, n in counts)
    top = max((n for _, n in counts), default=0) or 1
    slot = frame.plot_width / max(len(counts), 1)
    # Every value is labelled when the labels fit; otherwise the first, middle and last.
    widest = max((_text_width(label) for label, _ in counts), default=0.0)
    labelled = set(range(len(counts))) if widest + 4 <= slot else {
        0, len(counts) // 2, len(counts) - 1}
    parts: list[str] = [f'<line x1="{frame.left}" y1="{frame.bottom_y}" x2="{frame.right_x}" '
                        f'y2="{frame.bottom_y}" stroke="{_GRID}"/>']
    for i, (label, n) in enumerate(counts):
        x = frame.left + i * slot + slot * 0.15
        w = slot * 0.7
        h = frame.plot_height * n / top
        y = frame.bottom_y - h
        share = n / total if total else 0.0
        color = _gradient(i / (len(counts) - 1) if len(counts) > 1 else 1.0)
        parts.append(f'<g class="chart-rating"><title>{escape(label)}: {n:,} '
                     f'({format_value(share, "percent")})</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'fill="{color}"/>'
                     f'<text x="{x + w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                     f'font-size="{_FONT}" fill="{_TEXT}">{n:,}</text>'
                     + (f'<text x="{x + w / 2:.1f}" y="{frame.bottom_y + 14:.1f}" '
                        f'text-anchor="middle" font-size="{_FONT}" fill="{_MUTED}">'
                        f'{escape(label)}</text>' if i in labelled else "")
                     + "</g>")
    summary = description or ", ".join(f"{label}: {n:,}" for label, n in counts)
    return _svg(frame, title, summary, parts, key, "ratings")


# -- pieces --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return float(self.height - self.top - self.bottom)

    @property
    def bottom_y(self) -> float:
        return float(self.height - self.bottom)

    @property
    def right_x(self) -> float:
        return float(self.width - self.right)


def _svg(frame: _Frame, title: str, description: str, parts: Sequence[str], key: str | None,
         kind: str) -> Markup:
    ident = "chart-" + (key or hashlib.sha1(f"{kind}:{title}".encode()).hexdigest()[:10])
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {frame.width} {frame.height}" width="100%" '
        f'style="max-width: {frame.width}px" '
        f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
        'font-family="inherit">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>'
        + "".join(parts) + "</svg>")


def _y_grid(frame: _Frame, ticks: Sequence[float], unit: Unit,
            y_of: Callable[[float], float]) -> str:
    out: list[str] = []
    for tick in ticks:
        y = y_of(tick)
        dash = "" if tick == 0 else ' stroke-dasharray="2 3"'
        out.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right_x}" y2="{y:.1f}" '
                   f'stroke="{_GRID}"{dash}/>'
                   f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'font-size="{_FONT}" fill="{_MUTED}">{format_value(tick, unit)}</text>')
    return "".join(out)


def _x_labels(frame: _Frame, axis: TimeAxis, slot: float) -> str:
    if axis.count == 0:
        return ""
    # Room for a label about every 80 px; always the first bucket.
    step = max(1, math.ceil(axis.count / max(1, int(frame.plot_width // 80))))
    out: list[str] = []
    for i, start in enumerate(axis.starts()):
        if i % step:
            continue
        x = frame.left + (i + 0.5) * slot
        out.append(f'<text x="{x:.1f}" y="{frame.bottom_y + 15:.1f}" text-anchor="middle" '
                   f'font-size="{_FONT}" fill="{_MUTED}">{escape(axis.label(start))}</text>')
    return "".join(out)


def _legend(frame: _Frame, items: Sequence[tuple[str, Tone, str]], band: bool = False) -> str:
    out: list[str] = []
    x = float(frame.left)
    y = 12.0
    for name, tone, mark in items:
        color = _TONES[tone]
        if mark == "line":
            out.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 14:.1f}" y2="{y - 4}" '
                       f'stroke="{color}" stroke-width="2"/>')
        else:
            opacity = ' fill-opacity="0.28"' if mark == "pale" else ""
            out.append(f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="10" '
                       f'fill="{color}"{opacity}/>')
        out.append(f'<text x="{x + 18:.1f}" y="{y}" font-size="{_FONT}" '
                   f'fill="{_TEXT}">{escape(name)}</text>')
        x += 26 + _text_width(name)
    if band:
        out.append(f'<rect x="{x:.1f}" y="{y - 9}" width="14" height="10" fill="{_MUTED}" '
                   f'fill-opacity="0.25"/><text x="{x + 18:.1f}" y="{y}" font-size="{_FONT}" '
                   f'fill="{_MUTED}">95% interval</text>')
    return f'<g class="chart-legend">{"".join(out)}</g>'


def _runs(points: Sequence[Point], keep: Callable[[Point], bool]) -> list[list[Point]]:
    """Consecutive points that ``keep`` accepts, split where one does not."""
    runs: list[list[Point]] = []
    current: list[Point] = []
    for point in points:
        if keep(point):
            current.append(point)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _series_summary(series: Sequence[Series], unit: Unit) -> str:
    parts: list[str] = []
    for s in series:
        values = [p.value for p in s.points if p.value is not None]
        if values:
            parts.append(f"{s.name} from {format_value(min(values), unit)} to "
                         f"{format_value(max(values), unit)} over {len(values)} buckets")
        else:
            parts.append(f"{s.name}: no data")
    return "; ".join(parts)


def _text_width(text: str) -> float:
    """About how wide ``text`` is at the charts' font size (no font metrics here)."""
    return len(text) * _FONT * 0.56


def _clip(text: str, width_px: int) -> str:
    fits = max(3, int(width_px / ((_FONT + 1) * 0.56)))
    return text if len(text) <= fits else text[: fits - 1] + "…"


def _gradient(position: float) -> str:
    """A colour from bad (0) through amber to good (1)."""
    stops = [(0.0, (180, 35, 24)), (0.5, (214, 150, 40)), (1.0, (18, 119, 61))]
    for (p0, c0), (p1, c1) in itertools.pairwise(stops):
        if position <= p1:
            t = (position - p0) / (p1 - p0)
            r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#12773d"
