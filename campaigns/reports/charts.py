"""Charts drawn on the server as inline SVG: no script, no network, readable without JavaScript.

The product must work offline, so the report does not load a chart library from a CDN. Each function
returns a ``SafeString`` holding one ``<svg>`` element; every text in it is escaped here. Bars carry a
``<title>`` (the browser shows it as a tooltip) and the chart an ``aria-label`` for screen readers.
Colours use the admin's palette and ``currentColor`` for text, so they read in light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PRIMARY = "#417690"
SECONDARY = "#a7c7da"
MUTED = "#c9c9c9"
AXIS = "#888888"
FONT = "font-family:system-ui,sans-serif;font-size:11px"


@dataclass(frozen=True)
class Segment:
    """A part of a column: its value and colour."""

    value: float
    color: str


@dataclass(frozen=True)
class Column:
    """One column of a column chart: stacked segments, an axis label and a tooltip."""

    label: str
    segments: Sequence[Segment]
    tooltip: str


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart."""

    label: str
    value: float
    note: str
    color: str = PRIMARY


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^n at or above ``value`` (an axis maximum a reader can divide)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def axis_ticks(top: float, *, whole: bool = False) -> list[float]:
    """Gridline values from 0 to at least ``top`` in a round step (1, 2 or 5 x 10^n), at most five intervals.

    D13: a quarter of the axis (12.5, 37.5; 2.5 % shown as "2 %") is not a number a reader divides by. Counts
    (``whole``) step by whole numbers, so one call is not drawn against ticks at 0.25.
    """
    top = top if top > 0 else 1.0
    exponent = math.floor(math.log10(top / 5))
    step = next(m * 10**e for e in (exponent, exponent + 1) for m in (1, 2, 5) if m * 10**e * 5 >= top - 1e-12)
    if whole:
        step = max(1, round(step))
    intervals = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 10) for i in range(intervals + 1)]


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def column_chart(columns: Sequence[Column], *, title: str, height: int = 220, width: int = 900,
                 y_max: float | None = None, y_format: str = "count", label_every: int = 1,
                 legend: Sequence[tuple[str, str]] = ()) -> SafeString:
    """Vertical (stacked) columns with a y axis of four gridlines.

    Args:
        columns: The columns, left to right.
        title: What the chart shows (its accessible name).
        height: Pixel height of the whole drawing.
        width: Pixel width of the whole drawing (it scales down with the page).
        y_max: Top of the axis; by default a round number above the tallest column.
        y_format: ``count`` or ``percent`` (values are fractions 0..1).
        label_every: Show the x label of one column in this many.
        legend: ``(colour, text)`` pairs shown above the plot.

    Returns:
        One ``<svg>`` element.
    """
    left, right, top, bottom = 48, 8, 22 if legend else 8, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    tallest = max((sum(s.value for s in c.segments) for c in columns), default=0.0)
    ticks = axis_ticks(y_max if y_max is not None else nice_ceiling(tallest), whole=y_format == "count")
    top_value = ticks[-1]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" role="img" '
             f'aria-label="{escape(title)}" class="report-chart" style="{FONT};max-width:100%;height:auto">',
             f"<title>{escape(title)}</title>"]
    for n, (color, text) in enumerate(legend):
        lx = left + n * 160
        parts.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{escape(color)}"/>'
                     f'<text x="{lx + 14}" y="13" fill="currentColor">{escape(text)}</text>')
    for i, value in enumerate(ticks):
        y = top + plot_h - plot_h * value / top_value
        text = f"{value * 100:g}%" if y_format == "percent" else _number(value)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{AXIS}" '
                     f'stroke-opacity="{0.6 if i == 0 else 0.2}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">{text}</text>')
    slot = plot_w / max(1, len(columns))
    bar_w = max(1.0, slot * 0.8)
    for index, column in enumerate(columns):
        x = left + index * slot + (slot - bar_w) / 2
        y = top + plot_h
        parts.append("<g>")
        parts.append(f"<title>{escape(column.tooltip)}</title>")
        # A transparent full-height target so thin or empty columns still show their tooltip.
        parts.append(f'<rect x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" fill="transparent"/>')
        for segment in column.segments:
            h = plot_h * min(segment.value, top_value) / top_value if top_value else 0
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{escape(segment.color)}"/>')
        parts.append("</g>")
        if column.label and index % max(1, label_every) == 0:
            cx = x + bar_w / 2
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                         f'fill="currentColor">{escape(column.label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 640, row_height: int = 26,
              label_width: int = 150, max_value: float | None = None) -> SafeString:
    """Horizontal bars with a label on the left and a note (the figure) after each bar.

    Returns:
        One ``<svg>`` element.
    """
    note_width = 150
    plot_w = width - label_width - note_width
    top_value = max_value if max_value is not None else max((b.value for b in bars), default=0.0)
    height = row_height * max(1, len(bars)) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" role="img" '
             f'aria-label="{escape(title)}" class="report-chart" style="{FONT};max-width:100%;height:auto">',
             f"<title>{escape(title)}</title>"]
    for index, bar in enumerate(bars):
        y = index * row_height + 2
        w = plot_w * bar.value / top_value if top_value else 0
        parts.append(f'<g><title>{escape(bar.label)}: {escape(bar.note)}</title>'
                     f'<text x="{label_width - 8}" y="{y + row_height / 2 + 4:.1f}" text-anchor="end" '
                     f'fill="currentColor">{escape(bar.label)}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{plot_w}" height="{row_height - 8}" '
                     f'fill="{MUTED}" fill-opacity="0.25"/>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{max(w, 0):.1f}" height="{row_height - 8}" '
                     f'fill="{escape(bar.color)}"/>'
                     f'<text x="{label_width + plot_w + 8}" y="{y + row_height / 2 + 4:.1f}" '
                     f'fill="currentColor">{escape(bar.note)}</text></g>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)
