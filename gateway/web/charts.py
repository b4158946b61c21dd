"""Bar charts as inline SVG, drawn on the server: no script, no external file.

A chart is always drawn with its axes and gridlines, even with no data; then it says so in
the plot area. Each SVG is an image with a title and a description (`role="img"`,
`aria-labelledby`); the page also gives the same figures in a table, for screen readers and
for copying. Colours are presentation attributes, not inline styles, so the page's strict
Content-Security-Policy (no 'unsafe-inline') holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 46
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TICKS = 4
MOST_LABELS = 14  # x labels shown at most; the rest are in the table
BAR = "#2f6690"
AXIS, GRID, INK = "#333333", "#d9d9d9", "#1a1a1a"


@dataclass(frozen=True)
class Chart:
    """What one bar chart shows.

    Attributes:
        key: a page-unique id, for the title and description ids.
        title: what the chart is (the SVG's title).
        desc: one sentence on how to read it (the SVG's description).
        labels: one per bar, along the x axis.
        values: one per bar; None draws no bar (e.g. a rate with nothing to divide by).
        x_label, y_label: the axes' names.
        percent: values are shares (0..1), shown as percentages on a 0..100 % axis.
        empty: what the chart says when there is nothing to draw.
    """

    key: str
    title: str
    desc: str
    labels: Sequence[str]
    values: Sequence[float | None]
    x_label: str
    y_label: str
    percent: bool = False
    empty: str = "No transfers in this period"

    @property
    def is_empty(self) -> bool:
        return not any(v for v in self.values if v is not None)


def nice_top(largest: float) -> float:
    """The y axis' top: TICKS steps of 1, 2 or 5 times a power of ten (at least 1), so
    gridlines of a count fall on whole numbers."""
    needed = max(largest, 1) / TICKS
    power = 10.0 ** math.floor(math.log10(needed))
    # 2.5 only where it makes whole numbers (25, 250...), never 2.5 itself.
    steps = [m * power for m in (1, 2, 2.5, 5, 10) if (m * power).is_integer() or power < 1]
    step = next(s for s in steps if s >= needed)
    return float(max(step, 1) * TICKS)


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f} %"
    return f"{value:g}"


def render(chart: Chart) -> Markup:
    """The chart as an `<svg>` element, safe to put in a template as is."""
    top = 1.0 if chart.percent else nice_top(max((v or 0 for v in chart.values), default=0))
    title_id, desc_id = f"{chart.key}-title", f"{chart.key}-desc"
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(chart.desc)}</desc>',
        *_grid(top, chart.percent),
        *_bars(chart, top),
        *_axes(chart),
    ]
    if chart.is_empty:
        parts.append(
            f'<text x="{LEFT + PLOT_W / 2}" y="{TOP + PLOT_H / 2}" text-anchor="middle" '
            f'fill="{INK}" font-size="15" class="empty">{escape(chart.empty)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _y(value: float, top: float) -> float:
    return round(TOP + PLOT_H - value / top * PLOT_H, 1)


def _grid(top: float, percent: bool) -> list[str]:
    lines = []
    for i in range(TICKS + 1):
        value = top * i / TICKS
        y = _y(value, top)
        lines.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" font-size="11" '
            f'fill="{INK}">{escape(_number(value, percent))}</text>'
        )
    return lines


def _bars(chart: Chart, top: float) -> list[str]:
    slot = PLOT_W / max(len(chart.labels), 1)
    every = max(1, math.ceil(len(chart.labels) / MOST_LABELS))
    parts = []
    for i, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        x = LEFT + i * slot
        if value:
            y = _y(value, top)
            parts.append(
                f'<rect x="{round(x + slot * 0.15, 1)}" y="{y}" width="{round(slot * 0.7, 1)}" '
                f'height="{round(TOP + PLOT_H - y, 1)}" fill="{BAR}">'
                f"<title>{escape(label)}: {escape(_number(value, chart.percent))}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{round(x + slot / 2, 1)}" y="{TOP + PLOT_H + 15}" '
                f'text-anchor="middle" font-size="11" fill="{INK}">{escape(label)}</text>'
            )
    return parts


def _axes(chart: Chart) -> list[str]:
    bottom = TOP + PLOT_H
    middle = TOP + PLOT_H / 2
    return [
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="{AXIS}" class="axis"/>',
        f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}" '
        f'class="axis"/>',
        f'<text x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">{escape(chart.x_label)}</text>',
        f'<text x="12" y="{middle}" text-anchor="middle" font-size="12" fill="{INK}" '
        f'transform="rotate(-90 12 {middle})">{escape(chart.y_label)}</text>',
    ]
