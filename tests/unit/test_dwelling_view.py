"""The dwelling page's pure parts: reading the edge's events tolerantly, chart geometry,
event lines in the operator's language."""

from __future__ import annotations

from hub.api.overview import news2, routine_profile
from hub.console.charts import SPARK_PAD, SPARK_W, clock, quiet_chart, sparkline
from hub.console.dwelling_view import event_details, event_row, news2_view
from hub.storage.base import StoredEvent

TZ = "Europe/Amsterdam"
NOW = 1_764_000_000.0


def stored(kind: str, **detail: float | int | bool | str | None) -> StoredEvent:
    return StoredEvent("e-1", "dw-001", kind, NOW - 60, NOW - 59, None, detail)


def test_clock_wraps_before_midnight() -> None:
    assert clock(-75) == "22:45" and clock(435) == "07:15" and clock(1440) == "00:00"


def test_routine_profile_reads_what_is_there_and_ignores_the_rest() -> None:
    p = routine_profile(
        stored(
            "routine_profile",
            days_learned=3.0,
            learned="yes",
            wake_min=True,
            up_by_min=600,
            quiet_bucket_min=60,
            quiet_awake_min=",".join(["240"] * 23 + [""]),
            quiet_asleep_min="1,2",  # wrong length: dropped, not misplaced
        )
    )
    assert p.days_learned == 3 and p.learned is None and p.wake_min is None
    assert p.up_by_min == 600.0 and p.bucket_min == 60
    assert p.quiet_awake_min == (240.0,) * 23 + (None,)
    assert p.quiet_asleep_min == ()


def test_quiet_chart_bars_and_a_night_across_midnight() -> None:
    awake = [600.0] * 14 + [150.0] * 32 + [600.0] * 2
    asleep = [540.0] * 14 + [None] * 34
    c = quiet_chart(
        awake, asleep, 30, night=(-75, 435), up_by_min=555, hour="u", titles=("wakker", "slapend")
    )
    assert len(c.awake) == 48 and len(c.asleep) == 14
    assert len(c.night) == 2  # 22:45-24:00 and 00:00-07:15
    assert c.night[0].x > c.night[1].x
    full = c.plot_bottom - c.plot_top
    assert c.awake[0].h == round(full * 600 / 720, 2) and c.awake[20].h == round(
        full * 150 / 720, 2
    )
    assert c.awake[20].title == "10:00-10:30 wakker: 2 u 30 min"
    assert c.up_by_x is not None and c.plot_left < c.up_by_x < c.plot_right


def test_sparkline_breaks_at_gaps_and_draws_dots_only_when_few() -> None:
    pts = [(0.0, 1.0), (3600.0, 2.0), (200_000.0, 3.0)]
    s = sparkline(pts, 0.0, 200_000.0, gap_s=90_000.0)
    assert s.line.count("M") == 2 and s.line.count("L") == 1
    assert s.dots.count("h0") == 3
    assert s.line.startswith(f"M{SPARK_PAD:.1f} ") and f"M{SPARK_W - SPARK_PAD:.1f} " in s.line
    many = [(float(i), float(i % 3)) for i in range(100)]
    assert sparkline(many, 0.0, 100.0, gap_s=10.0).dots == ""
    flat = sparkline([(0.0, 5.0)], 0.0, 10.0, gap_s=1.0)
    assert (flat.lo, flat.hi) == (4.0, 6.0)
    assert sparkline([], 0.0, 1.0, 1.0).line == ""


def test_event_lines_in_both_languages_and_unknowns_as_sent() -> None:
    trend = stored("trend_alarm", rule="spo2_down", metric="spo2", value=92.5, baseline_mad=None)
    nl = event_row(trend, "nl", TZ, NOW)
    assert nl.label == "afwijkende trend" and nl.known and nl.tone == "alarm"
    assert [(d.label, d.value) for d in nl.details] == [
        ("regel", "zuurstofsaturatie gedaald"),
        ("meetwaarde", "zuurstofsaturatie"),
        ("waarde", "92,5"),
    ]
    en = event_row(trend, "en", TZ, NOW)
    assert en.label == "unusual trend" and en.details[0].value == "oxygen saturation down"
    odd = event_row(stored("trend_whatever", weird=1e300, key="x", source="y"), "nl", TZ, NOW)
    assert odd.label == "trend_whatever" and not odd.known and odd.tone == "info"
    assert [d.label for d in odd.details] == ["weird"]
    nested = event_details({"list": [1, 2], "sub_hr": 3, "missing": ""}, "nl", TZ, NOW)
    assert [(d.label, d.value) for d in nested] == [
        ("list", "[1, 2]"),
        ("hartslag (punten)", "3"),  # a sub-score that counts; "missing" empty: left out
    ]
    assert event_row(stored("inactivity_cancelled"), "nl", TZ, NOW).tone == "clear"


def test_partial_news2_says_how_much_is_missing() -> None:
    n = news2(stored("news2_band_changed", score=0, band="zero", partial=True, missing="rr,hr"))
    v = news2_view(n, "nl", TZ, NOW)
    assert v.partial == "onvolledig: 2 van 7 parameters ontbreken: ademfrequentie, hartslag"
    assert v.band_label == "geen risico (0)" and v.score == "0"
    unknown = news2_view(news2(stored("vitals_alarm", band="ultra")), "en", TZ, NOW)
    assert unknown.band_label == "ultra" and unknown.score == "?" and unknown.partial == ""
