"""Geometry of the dwelling page's small charts, drawn as inline SVG by the templates.

Pure: numbers in, coordinates and SVG path data out. Server-rendered, no script and no
inline style (the console's Content-Security-Policy allows neither); colours come from
console.css classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

MINUTES_PER_DAY: Final = 1440

# The quiet-threshold chart: viewBox 0 0 QUIET_W QUIET_H, plot area inside the margins.
QUIET_W: Final = 640.0
QUIET_H: Final = 190.0
QUIET_LEFT: Final = 34.0
QUIET_RIGHT: Final = 8.0
QUIET_TOP: Final = 8.0
QUIET_BOTTOM: Final = 22.0
QUIET_MAX_MIN: Final = 12 * 60.0  # the thresholds are clipped to 12 h at the edge

# Sparklines: viewBox 0 0 SPARK_W SPARK_H, stretched to the box (non-scaling strokes).
SPARK_W: Final = 300.0
SPARK_H: Final = 56.0
SPARK_PAD: Final = 5.0
SPARK_DOTS_MAX: Final = 60  # fewer points than this: each one is drawn as a dot too


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    title: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float  # x for the time axis, y for the value axis
    label: str


@dataclass(frozen=True, slots=True)
class QuietChart:
    awake: tuple[Rect, ...]
    asleep: tuple[Rect, ...]
    night: tuple[Rect, ...]  # shaded background, 1 or 2 (the night wraps midnight)
    up_by_x: float | None
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    width: float = QUIET_W
    height: float = QUIET_H


def clock(minute: float) -> str:
    """A minute of the day as HH:MM (negative: before midnight, wraps)."""
    m = round(minute) % MINUTES_PER_DAY
    return f"{m // 60:02d}:{m % 60:02d}"


def _x_of(minute: float) -> float:
    width = QUIET_W - QUIET_LEFT - QUIET_RIGHT
    return QUIET_LEFT + width * (minute % MINUTES_PER_DAY) / MINUTES_PER_DAY


def quiet_chart(
    awake: Sequence[float | None],
    asleep: Sequence[float | None],
    bucket_min: int,
    *,
    night: tuple[float, float] | None,
    up_by_min: float | None,
    hour: str,
    titles: tuple[str, str],
) -> QuietChart:
    """Bars per bucket: the awake threshold (left half) and the asleep one (right half),
    in minutes, on a 0-12 h axis; `hour` is the hour unit ("u"/"h") for the labels and
    `titles` the two series' names for the hover titles."""
    top, bottom = QUIET_TOP, QUIET_H - QUIET_BOTTOM
    slot = (QUIET_W - QUIET_LEFT - QUIET_RIGHT) * bucket_min / MINUTES_PER_DAY

    def bars(values: Sequence[float | None], offset: float, name: str) -> tuple[Rect, ...]:
        out = []
        for i, v in enumerate(values):
            if v is None:
                continue
            h = (bottom - top) * min(v, QUIET_MAX_MIN) / QUIET_MAX_MIN
            start = i * bucket_min
            title = f"{clock(start)}-{clock(start + bucket_min)} {name}: {_hours(v, hour)}"
            x = _x_of(start) + slot * offset
            out.append(
                Rect(round(x, 2), round(bottom - h, 2), round(slot * 0.44, 2), round(h, 2), title)
            )
        return tuple(out)

    shade: list[Rect] = []
    if night is not None:
        a, b = night[0] % MINUTES_PER_DAY, night[1] % MINUTES_PER_DAY
        spans = [(a, b)] if a < b else [(a, MINUTES_PER_DAY), (0.0, b)]
        for s, e in spans:
            x0 = _x_of(s)
            x1 = QUIET_W - QUIET_RIGHT if e >= MINUTES_PER_DAY else _x_of(e)
            if x1 > x0:
                shade.append(Rect(round(x0, 2), top, round(x1 - x0, 2), bottom - top))
    return QuietChart(
        awake=bars(awake, 0.04, titles[0]),
        asleep=bars(asleep, 0.52, titles[1]),
        night=tuple(shade),
        up_by_x=round(_x_of(up_by_min), 2) if up_by_min is not None else None,
        x_ticks=tuple(Tick(round(_x_of(h * 60), 2), f"{h:02d}:00") for h in range(0, 24, 3)),
        y_ticks=tuple(
            Tick(round(bottom - (bottom - top) * h / 12, 2), f"{h} {hour}")
            for h in (0, 3, 6, 9, 12)
        ),
        plot_left=QUIET_LEFT,
        plot_right=QUIET_W - QUIET_RIGHT,
        plot_top=top,
        plot_bottom=bottom,
    )


def _hours(minutes: float, hour: str) -> str:
    m = round(minutes)
    if m < 60:
        return f"{m} min"
    return f"{m // 60} {hour}" + (f" {m % 60} min" if m % 60 else "")


@dataclass(frozen=True, slots=True)
class Spark:
    line: str  # SVG path data; empty when there is nothing to draw
    dots: str  # path data of zero-length segments (round caps draw them as dots)
    lo: float  # the value at the bottom and at the top of the box
    hi: float


def sparkline(
    points: Sequence[tuple[float, float]], start: float, end: float, gap_s: float
) -> Spark:
    """`points` (t, value), oldest first, on [start, end] x [lo, hi]; the line breaks
    where consecutive points are more than `gap_s` apart."""
    if not points or end <= start:
        return Spark("", "", 0.0, 0.0)
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    inner = SPARK_H - 2 * SPARK_PAD

    def xy(t: float, v: float) -> str:
        span = SPARK_W - 2 * SPARK_PAD  # a point at either end stays inside the box
        x = SPARK_PAD + span * (min(max(t, start), end) - start) / (end - start)
        y = SPARK_PAD + inner * (hi - v) / (hi - lo)
        return f"{x:.1f} {y:.1f}"

    parts: list[str] = []
    prev: float | None = None
    for t, v in points:
        parts.append(("L" if prev is not None and t - prev <= gap_s else "M") + xy(t, v))
        prev = t
    dots = "".join(f"M{xy(t, v)}h0" for t, v in points) if len(points) <= SPARK_DOTS_MAX else ""
    return Spark("".join(parts), dots, lo, hi)
