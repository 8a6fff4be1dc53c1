"""The report page's pure parts: chart geometry (hub.console.report_charts), how its
figures read and the month navigation (hub.console.report_view)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from alerts.impact import Month
from hub.console.report_charts import (
    BAR_GAP,
    BAR_H,
    BAR_MAX_PCT,
    BAR_MIN_PCT,
    INSIDE_FROM_PCT,
    LABEL_H,
    ROW_GAP,
    STACK_H,
    Part,
    Value,
    hbars,
    stacked,
)
from hub.console.report_view import hours, month_name, outages, picker, seconds, share

TZ = ZoneInfo("Europe/Amsterdam")


def test_bars_share_one_scale_with_the_largest_at_the_maximum() -> None:
    chart = hbars(
        [
            ("persoonlijk alarm", [Value(4, "4")]),
            ("val", [Value(3, "3")]),
            ("langdurig liggen", [Value(0, "0")]),
            ("vitale functies", [Value(2, "2")]),
        ]
    )
    widths = [s.rect.w if s.rect else None for r in chart.rows for s in r.slots]
    assert widths == [BAR_MAX_PCT, 75.0, None, 50.0] and BAR_MAX_PCT == 100.0
    assert chart.bars == 3
    # A long bar carries its value inside, a short one beside it.
    assert [s.inside for r in chart.rows for s in r.slots] == [True, True, False, True]
    assert INSIDE_FROM_PCT == 50.0
    # A zero draws no bar, but its row and its value stay (the reader sees the 0).
    zero = chart.rows[2].slots[0]
    assert zero.rect is None and zero.text == "0" and zero.text_x == 0.0
    # Rows stack downwards: label line, bar, gap; the value sits at the bar's end.
    first, second = chart.rows[0], chart.rows[1]
    assert first.slots[0].rect is not None and first.slots[0].rect.y == LABEL_H
    assert second.slots[0].rect is not None
    assert second.slots[0].rect.y == LABEL_H + BAR_H + ROW_GAP + LABEL_H
    assert first.slots[0].text_x == BAR_MAX_PCT and first.label_y < LABEL_H
    assert chart.height == 4 * (LABEL_H + BAR_H) + 3 * ROW_GAP
    assert first.slots[0].rect.title == "persoonlijk alarm: 4"


def test_a_row_of_two_bars_p50_and_p90() -> None:
    chart = hbars(
        [
            (
                "Alle woningen",
                [Value(50, "50 s", "p50", "p50"), Value(90, "1 min 30 s", "p90", "p90")],
            ),
            ("dw-002", [Value(45, "45 s*", "p50", "p50"), Value(45, "45 s*", "p90", "p90")]),
            ("dw-003", [Value(None, "geen reacties")]),
        ]
    )
    p50, p90 = chart.rows[0].slots
    assert p50.rect is not None and p90.rect is not None
    assert p90.rect.w == BAR_MAX_PCT and p50.rect.w == pytest.approx(
        BAR_MAX_PCT * 50 / 90, abs=0.01
    )
    assert p90.rect.y == p50.rect.y + BAR_H + BAR_GAP
    assert (p50.css, p90.css) == ("p50", "p90")
    assert p90.rect.title == "Alle woningen: p90 1 min 30 s"
    none = chart.rows[2].slots
    assert len(none) == 1 and none[0].rect is None and none[0].text == "geen reacties"
    assert chart.bars == 4


def test_a_tiny_value_stays_visible_and_nothing_at_all_draws_nothing() -> None:
    chart = hbars([("a", [Value(10_000, "10000")]), ("b", [Value(1, "1")])])
    b = chart.rows[1].slots[0].rect
    assert b is not None and b.w == BAR_MIN_PCT
    assert chart.rows[1].slots[0].inside is False and chart.rows[1].slots[0].text_x == BAR_MIN_PCT
    assert hbars([]).rows == () and hbars([]).height == 0.0
    nothing = hbars([("a", [Value(0, "0")]), ("b", [Value(None, "–")])])
    assert nothing.bars == 0 and len(nothing.rows) == 2
    assert hbars([("a", [Value(-3, "-3")])]).bars == 0


def test_a_stacked_bar_fills_the_width_in_order_and_skips_zeros() -> None:
    parts = [
        Part("f", "loos alarm", 4),
        Part("h", "familie", 1),
        Part("x", "ambulance", 0),
        Part("o", "open", 3),
    ]
    s = stacked(parts)
    assert s.total == 8 and s.parts == tuple(parts)
    assert [seg.part.css for seg in s.segments] == ["f", "h", "o"]
    assert [seg.rect.x for seg in s.segments] == [0.0, 50.0, 62.5]
    assert [seg.rect.w for seg in s.segments] == [50.0, 12.5, 37.5]
    assert [seg.share for seg in s.segments] == [0.5, 0.125, 0.375]
    assert all(seg.rect.h == STACK_H for seg in s.segments)
    assert s.segments[0].rect.title == "loos alarm: 4"
    # Thirds: no gap, no overrun, whatever the rounding.
    thirds = stacked([Part("a", "a", 1), Part("b", "b", 1), Part("c", "c", 1)])
    last = thirds.segments[-1].rect
    assert last.x + last.w == pytest.approx(100.0, abs=0.002)
    assert stacked([Part("a", "a", 0)]).segments == () and stacked([]).total == 0


@pytest.mark.parametrize(
    ("value", "nl", "en"),
    [
        (None, "–", "–"),
        (0.0, "0 s", "0 s"),
        (47.5, "47,5 s", "47.5 s"),
        (50.0, "50 s", "50 s"),
        (59.96, "1 min", "1 min"),
        (111.0, "1 min 51 s", "1 min 51 s"),
        (93.5, "1 min 33,5 s", "1 min 33.5 s"),
        (120.0, "2 min", "2 min"),
        (3900.0, "1 u 5 min", "1 h 5 min"),
        (7200.0, "2 u", "2 h"),
    ],
)
def test_response_times_read_to_a_tenth_of_a_second(value: float | None, nl: str, en: str) -> None:
    assert (seconds(value, "nl"), seconds(value, "en")) == (nl, en)


def test_shares_hours_and_periods() -> None:
    assert (share(3 / 8, "nl"), share(4 / 9, "nl"), share(1.0, "en"), share(None, "nl")) == (
        "38%",
        "44%",
        "100%",
        "–",
    )
    assert (hours(29.5, "nl"), hours(26.0, "en"), hours(0.25, "nl")) == ("29,5 u", "26 h", "0,25 u")
    assert (outages(1, "nl"), outages(2, "nl"), outages(0, "en")) == (
        "1 periode",
        "2 perioden",
        "0 periods",
    )
    assert (month_name(Month(2025, 10), "nl"), month_name(Month(2026, 3), "en")) == (
        "oktober 2025",
        "March 2026",
    )


def test_the_month_navigation_stops_at_the_current_month() -> None:
    now = 1_764_000_000.0  # 24 November 2025
    october = picker(Month(2025, 10), now, TZ, "nl", Month(2025, 10))
    assert october.previous is not None and october.next is not None
    assert (october.previous.month, october.previous.label) == ("2025-09", "september 2025")
    assert (october.next.month, october.value, october.max) == ("2025-11", "2025-10", "2025-11")
    november = picker(Month(2025, 11), now, TZ, "en", Month(2025, 10))
    assert november.next is None and november.previous is not None
    assert november.previous.label == "October 2025"
    first = picker(Month(1970, 1), now, TZ, "nl", Month(2025, 10))
    assert first.previous is None
    # No month (a bad one was asked for): the field shows the default, no steps.
    none = picker(None, now, TZ, "nl", Month(2025, 10))
    assert (none.value, none.previous, none.next) == ("2025-10", None, None)
