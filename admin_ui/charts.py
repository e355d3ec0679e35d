"""Bar charts as inline SVG geometry, computed on the server: no chart library, no script.

A chart is only shapes and labels; the template draws them and always pairs the
chart with a table of the same figures (its text alternative).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

PALETTE_SIZE = 6


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Hidden:
    """A category whose figure is withheld: drawn as an outlined, labelled slot, never as a zero bar."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(slots=True)
class Chart:
    """Shapes of one chart, in SVG user units."""

    width: int
    height: int
    plot_left: int
    plot_bottom: int
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_labels: list[Tick] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    unit: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def stacked_bars(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    label: Callable[[float], str],
    width: int = 640,
    height: int = 220,
    hidden: Sequence[bool] = (),
    hidden_title: str = "",
    unit: str = "",
    floor: float = 0.0,
    axis_label: Callable[[float], str] | None = None,
) -> Chart:
    """One bar per category, stacked by series (e.g. days by model); `label` formats values.

    Categories flagged in `hidden` get an outlined full-height slot titled `hidden_title`,
    so a withheld figure never reads as zero. `unit` is printed above the y axis; `floor`
    is the smallest top of the axis (an empty chart reads 0 to `floor`, not in millionths);
    `axis_label` formats the y-axis ticks (default: `label`)."""
    left, bottom, top = 72, height - 28, 18
    chart = Chart(width, height, left, bottom, legend=list(series), unit=unit)
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    ceiling = nice_ceiling(max(max(totals, default=0.0), floor))
    scale = (bottom - top) / ceiling
    for step in range(5):
        value = ceiling * step / 4
        chart.y_ticks.append(Tick(bottom - value * scale, (axis_label or label)(value)))
    if not categories:
        return chart
    slot = (width - left - 8) / len(categories)
    bar_width = max(2.0, slot * 0.7)
    every = max(1, math.ceil(len(categories) / 8))
    for i, category in enumerate(categories):
        x = left + i * slot + (slot - bar_width) / 2
        base = float(bottom)
        if i < len(hidden) and hidden[i]:
            chart.hidden.append(Hidden(x, float(top), bar_width, float(bottom - top), f"{category} · {hidden_title}"))
        for s, (name, values) in enumerate(series.items()):
            h = values[i] * scale
            if h > 0:
                base -= h
                chart.bars.append(Bar(x, base, bar_width, h, s % PALETTE_SIZE, f"{category} · {name}: {label(values[i])}"))
        if i % every == 0:
            chart.x_labels.append(Tick(x + bar_width / 2, category))
    return chart
