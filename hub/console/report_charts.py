"""Geometry of the report page's charts (hub.console.reports), drawn as inline SVG by its
template: horizontal bars (one or more per row, each row's label above its bars) and a
stacked 100 % bar.

Pure: numbers in, coordinates out. A chart is an <svg> as wide as its panel and without
a viewBox, so its text keeps its size from a phone to a wall screen: horizontal positions
are percentages of the width (`Rect.x`, `Rect.w`), vertical ones pixels (`Rect.y`,
`Rect.h`). No script and no inline style (the console's Content-Security-Policy allows
neither); colours come from reports.css classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hub.console.charts import Rect

BAR_MAX_PCT: Final = 100.0  # the longest bar
BAR_MIN_PCT: Final = 0.6  # a value above zero stays visible however small
# A bar at least this wide carries its value inside, at its end (white on the bar's
# colour); a shorter one right of it. Either way the value has half the width or more:
# 160 px on a phone, enough for "2 min 12 s*" or "26 u · 1 periode".
INSIDE_FROM_PCT: Final = 50.0
LABEL_H: Final = 18.0  # a row's label line, above its bars
BAR_H: Final = 16.0
BAR_GAP: Final = 3.0  # between the bars of one row (p50 and p90)
ROW_GAP: Final = 10.0
STACK_H: Final = 28.0


@dataclass(frozen=True, slots=True)
class Value:
    """One bar to draw: its value (None: none to tell), as the page shows it, and its
    series' CSS class (the colour) and name (for the hover title, e.g. "p90")."""

    value: float | None
    text: str
    css: str = "bar"
    name: str = ""


@dataclass(frozen=True, slots=True)
class Slot:
    """A drawn value: its bar (None for zero or no value: only the text shows) and its
    text at the bar's end (`text_x` in %, `text_y` the baseline in px): `inside` it
    (anchored at its end) or right of it."""

    css: str
    rect: Rect | None
    text: str
    text_x: float
    text_y: float
    inside: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    label_y: float  # baseline, px
    slots: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    rows: tuple[Row, ...]
    height: float  # px

    @property
    def bars(self) -> int:
        """How many bars are drawn."""
        return sum(1 for r in self.rows for s in r.slots if s.rect is not None)


def hbars(rows: Sequence[tuple[str, Sequence[Value]]]) -> BarChart:
    """Rows of horizontal bars, each row `(label, values)`, all on one scale: the largest
    value is BAR_MAX_PCT of the width. Zero, negative or missing values draw no bar."""
    top = max((v.value for _, values in rows for v in values if v.value is not None), default=0.0)
    y = 0.0
    out: list[Row] = []
    for label, values in rows:
        label_y = y + LABEL_H - 5.0
        y += LABEL_H
        slots: list[Slot] = []
        for i, v in enumerate(values):
            if i:
                y += BAR_GAP
            w = 0.0
            if v.value is not None and v.value > 0 and top > 0:
                w = max(BAR_MIN_PCT, BAR_MAX_PCT * v.value / top)
            title = f"{label}: {v.name} {v.text}" if v.name else f"{label}: {v.text}"
            rect = Rect(0.0, y, round(w, 2), BAR_H, title) if w > 0 else None
            inside = w >= INSIDE_FROM_PCT
            slots.append(Slot(v.css, rect, v.text, round(w, 2), y + BAR_H - 4.0, inside))
            y += BAR_H
        out.append(Row(label, label_y, tuple(slots)))
        y += ROW_GAP
    return BarChart(tuple(out), y - ROW_GAP if out else 0.0)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a stacked bar: its CSS class (the colour), label and count."""

    css: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Segment:
    part: Part
    rect: Rect  # x and w in % of the width
    share: float  # 0..1


@dataclass(frozen=True, slots=True)
class Stack:
    parts: tuple[Part, ...]  # every part, zeros too (the legend lists them)
    segments: tuple[Segment, ...]  # the parts above zero, left to right
    total: int
    height: float = STACK_H


def stacked(parts: Sequence[Part], text: str = "{label}: {count}") -> Stack:
    """A 100 % bar of `parts` in their order; parts of zero (or less) draw nothing, and
    no parts above zero draw an empty bar. `text`: the hover title of a segment."""
    drawn = [p for p in parts if p.count > 0]
    total = sum(p.count for p in drawn)
    segments: list[Segment] = []
    done = 0
    for p in drawn:
        # From the running sum, so the rounding never leaves a gap or runs past 100 %.
        x0 = 100.0 * done / total
        done += p.count
        x1 = 100.0 * done / total
        title = text.format(label=p.label, count=p.count)
        rect = Rect(round(x0, 3), 0.0, round(x1 - x0, 3), STACK_H, title)
        segments.append(Segment(p, rect, p.count / total))
    return Stack(tuple(parts), tuple(segments), total)
