"""hub.console.present: alarm details, durations and numbers as the operator reads them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.present import DetailItem, details, duration, moment, number
from hub.console.present import alarm_view, queue_order

TZ = "Europe/Amsterdam"
AMS = ZoneInfo(TZ)
# 25-11-2026 14:00:00 in Amsterdam (CET, UTC+1).
NOW = datetime(2026, 11, 25, 14, 0, 0, tzinfo=AMS).timestamp()


def items(
    detail: dict[str, float | int | bool | str | None], lang: str = "nl"
) -> list[tuple[str, str]]:
    return [(d.label, d.value) for d in details(detail, lang, TZ, NOW)]


def test_offline_after_heartbeat_timeout_in_dutch_and_english() -> None:
    last_seen = NOW - 340.4693081
    detail: dict[str, float | int | bool | str | None] = {
        "reason": "heartbeat_timeout",
        "last_seen": last_seen,
        "key": "offline",
    }
    assert items(detail) == [
        ("reden", "geen levensteken meer van de woning ontvangen"),
        ("laatst gezien", "13:54:19"),
    ]
    assert items(detail, "en") == [
        ("reason", "no sign of life from the dwelling received"),
        ("last seen", "13:54:19"),
    ]
    assert items({"reason": "status_offline"}) == [("reden", "woning meldde zich af")]
    assert items({"reason": "status_offline"}, "en") == [("reason", "dwelling signed off")]


@pytest.mark.parametrize(
    ("press", "nl", "en"),
    [
        ("press", "knop ingedrukt", "button pressed"),
        ("double_press", "dubbel ingedrukt", "pressed twice"),
        ("long_press", "lang ingedrukt", "long press"),
    ],
)
def test_press_kinds_are_shown_as_what_happened(press: str, nl: str, en: str) -> None:
    assert items({"press": press}) == [("", nl)]
    assert items({"press": press}, "en") == [("", en)]


def test_an_unknown_press_or_reason_code_is_shown_as_is() -> None:
    assert items({"press": "quadruple_press", "reason": "solar_flare"}) == [
        ("", "quadruple_press"),
        ("reden", "solar_flare"),
    ]


def test_timestamps_are_local_time_with_the_date_when_not_today() -> None:
    summer = datetime(2026, 7, 1, 9, 5, 7, tzinfo=AMS).timestamp()  # CEST, UTC+2
    assert moment(summer, TZ, NOW) == "01-07-2026 09:05:07"
    assert moment(NOW - 60, TZ, NOW) == "13:59:00"
    # *_at keys, `since`, and an unknown key holding an epoch-like number are moments too.
    assert items({"since": NOW - 3600, "checked_at": NOW, "whenever": NOW + 0.25}) == [
        ("sinds", "13:00:00"),
        ("checked_at", "14:00:00"),
        ("whenever", "14:00:00"),
    ]


def test_durations() -> None:
    assert duration(340, "nl") == "5 min 40 s"
    assert duration(340.4693081, "en") == "5 min 40 s"
    assert duration(300, "nl") == "5 min"
    assert duration(45, "nl") == "45 s"
    assert duration(2.5, "nl") == "2,5 s"
    assert duration(2.5, "en") == "2.5 s"
    assert duration(0, "nl") == "0 s"
    assert duration(7500, "nl") == "2 u 5 min"
    assert duration(7500, "en") == "2 h 5 min"
    assert duration(3 * 86400 + 4 * 3600 + 59, "nl") == "3 d 4 u"
    assert duration(-90, "en") == "-1 min 30 s"
    assert items({"for_s": 5400, "threshold_s": 340.4693081}) == [
        ("duur", "1 u 30 min"),
        ("drempel", "5 min 40 s"),
    ]
    assert items({"last_seen_s": 340}, "en") == [("last_seen_s", "5 min 40 s")]
    assert items({"grace_min": 90}, "en") == [("grace_min", "1 h 30 min")]


def test_unknown_keys_are_shown_with_sensibly_rounded_numbers() -> None:
    assert items({"ratio": 0.123456789, "temp": 36.6499999, "steps": 1234.5678, "n": 7}) == [
        ("ratio", "0,12"),
        ("temp", "36,6"),
        ("steps", "1235"),
        ("n", "7"),
    ]
    assert items({"ratio": 0.5, "temp": 36.0}, "en") == [("ratio", "0.5"), ("temp", "36")]
    assert number(float("nan"), "nl") == "nan"
    assert number(-0.001, "en") == "0"


def test_bools_none_key_and_long_text() -> None:
    assert items({"learned": True, "x": False, "gone": None, "key": "offline"}, "en") == [
        ("learned pattern", "yes"),
        ("x", "no"),
    ]
    assert items({"learned": False}) == [("geleerd patroon", "nee")]
    (shown,) = details({"note": "a" * 500}, "nl", TZ, NOW)
    assert len(shown.value) == 200 and shown.value.endswith("…")


def test_up_by_is_a_minute_of_the_day() -> None:
    assert items({"up_by_min": 600}) == [("verwacht op uiterlijk", "10:00")]
    assert items({"up_by_min": 570.0}, "en") == [("expected up by", "09:30")]


def test_alarm_view_carries_the_details() -> None:
    rec = AlarmRecord(
        id="a1",
        dwelling="dw-002",
        kind=AlarmKind.TECHNICAL,
        severity=Severity.MEDIUM,
        state=AlarmState.RAISED,
        source="hub",
        raised_at=NOW,
        received_at=NOW,
        detail={"reason": "heartbeat_timeout", "last_seen": 1795580962.4693081, "key": "offline"},
    )
    view = alarm_view(rec, "Unit 7, Kerkpad", "nl", TZ, NOW + 10)
    assert view.kind == "woning offline"
    assert view.details == (
        DetailItem("reden", "geen levensteken meer van de woning ontvangen"),
        DetailItem("laatst gezien", "05:29:22"),  # the same day: time only,
    )


def test_a_vitals_alarm_reads_clinically_in_dutch_and_english() -> None:
    """What an operator and a mantelzorger read for a NEWS2 alarm: the band by name, the
    missing parameters by name, only the sub-scores that count; no internal codes."""
    detail = {
        "score": 8,
        "band": "high",
        "red_flag": True,
        "partial": True,
        "missing": "rr,acvpu",
        "sub_spo2": 3,
        "sub_o2": 0,
        "sub_sbp": 2,
        "source": "vitals",
    }
    nl = [(d.label, d.value) for d in details(detail, "nl", TZ, NOW)]
    assert nl == [
        ("score", "8"),
        ("NEWS2-band", "hoog (7+)"),
        ("parameter met 3", "ja"),
        ("onvolledig", "ja"),
        ("ontbreekt", "ademfrequentie, bewustzijn"),
        ("zuurstofsaturatie (punten)", "3"),
        ("systolische bloeddruk (punten)", "2"),
    ]
    en = dict((d.label, d.value) for d in details(detail, "en", TZ, NOW))
    assert en["NEWS2 band"] == "high (7+)" and en["missing"] == "respiration rate, consciousness"
    trend = details({"rule": "weight_gain", "metric": "weight", "value": 84.6}, "nl", TZ, NOW)
    assert [d.value for d in trend] == ["gewicht snel toegenomen", "gewicht", "84,6"]


def test_a_vitals_alarm_shows_the_measured_values_with_units_beside_the_points() -> None:
    """An edge that sends what it measured (`val_<param>`): each parameter reads as at the
    bedside, blood pressure as systolic/diastolic, oxygen as yes/no, the points after."""
    detail = {
        "score": 9,
        "sub_spo2": 0,
        "val_spo2": 90.0,
        "sub_o2": 2,
        "val_o2": 1.0,
        "sub_sbp": 3,
        "val_sbp": 88.0,
        "val_dbp": 52.0,
        "sub_hr": 1,
        "val_hr": 95.0,
        "sub_temp": 1,
        "val_temp": 38.4,
        "spo2_scale": 2,
    }
    nl = [(d.label, d.value) for d in details(detail, "nl", TZ, NOW)]
    assert nl == [
        ("score", "9"),
        ("zuurstofsaturatie", "90 % (0 punten)"),
        ("extra zuurstof", "ja (2 punten)"),
        ("bloeddruk", "88/52 mmHg (3 punten)"),
        ("hartslag", "95/min (1 punt)"),
        ("temperatuur", "38,4 °C (1 punt)"),
        ("SpO2-schaal (zorgplan)", "2"),
    ]
    en = dict((d.label, d.value) for d in details(detail, "en", TZ, NOW))
    assert en["blood pressure"] == "88/52 mmHg (3 points)"
    assert en["heart rate"] == "95/min (1 point)"


BIG_INT = int("9" * 400)


def test_formatters_never_raise_on_values_from_before_the_strict_contract() -> None:
    """The probe's 400-digit integer and a time of 1e18 once answered 500 for every page."""
    from alerts.present import clock_time, date_time
    from alerts.texts import local_time
    from hub.console.texts import relative

    for lang, none in (("nl", "niet weer te geven"), ("en", "cannot be displayed")):
        assert number(BIG_INT, lang) == none
        assert duration(BIG_INT, lang) == none
        assert duration(1e300, lang) == none
        assert moment(1e18, TZ, NOW, lang) == none
        assert local_time(1e18, TZ, lang) == none
        assert clock_time(float("nan"), TZ, lang) == none
        assert date_time(-1e18, TZ, lang) == none
        assert relative(float("nan"), lang) == none
    assert moment(NOW, TZ, 1e18) == "25-11-2026 14:00:00"  # a bad "now" costs only the "today"
    assert number(2**60, "nl") == "1,15e+18" and number(-1e300, "en") == "-1e+300"
    assert number(2**53, "nl") == str(2**53)  # exact while an integer is exact in JSON
    assert duration(float("inf"), "nl") == "inf"
    assert items({"for_s": BIG_INT, "silent_min": BIG_INT, "since": 1e18, "n": BIG_INT}) == [
        ("duur", "niet weer te geven"),
        ("silent_min", "niet weer te geven"),
        ("sinds", "1e+18"),  # not a moment (outside 2000-2100): a number
        ("n", "niet weer te geven"),
    ]


def test_a_poisoned_alarm_still_has_a_view() -> None:
    rec = AlarmRecord(
        id="p" * 32,
        dwelling="dw-001",
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=1e18,
        received_at=1e18,
        detail={"for_s": BIG_INT},
    )
    view = alarm_view(rec, "Unit 3", "nl", TZ, NOW)
    assert view.received == "niet weer te geven" and view.age_title == "niet weer te geven"
    assert view.details == (DetailItem("duur", "niet weer te geven"),)


def _open(alarm_id: str, severity: Severity, received_at: float, state: AlarmState) -> AlarmRecord:
    return AlarmRecord(
        id=alarm_id,
        dwelling="dw-001",
        kind=AlarmKind.VITALS,
        severity=severity,
        state=state,
        source="edge",
        raised_at=received_at,
        received_at=received_at,
    )


def test_the_queue_is_most_severe_first_then_longest_waiting() -> None:
    t = 1_764_000_000.0
    high_old = _open("high-old", Severity.HIGH, t, AlarmState.NOTIFIED)
    high_new = _open("high-new", Severity.HIGH, t + 30, AlarmState.RAISED)
    critical_late = _open("critical-late", Severity.CRITICAL, t + 60, AlarmState.RAISED)
    low = _open("low", Severity.LOW, t - 600, AlarmState.NOTIFIED)
    queue = queue_order([low, high_new, critical_late, high_old])
    assert [a.id for a in queue] == ["critical-late", "high-old", "high-new", "low"]


def test_a_card_waits_against_its_target_and_is_overdue_past_it() -> None:
    t = 1_764_000_000.0
    rec = _open("c", Severity.CRITICAL, t, AlarmState.NOTIFIED)
    assert (alarm_view(rec, "Unit 1", "nl", "Europe/Amsterdam", t + 59).overdue) is False
    late = alarm_view(rec, "Unit 1", "nl", "Europe/Amsterdam", t + 61)
    assert late.overdue and late.target_s == 60 and late.waited == "1:01"
    taken = replace(rec, state=AlarmState.ACKNOWLEDGED, acknowledged_at=t + 30)
    view = alarm_view(taken, "Unit 1", "nl", "Europe/Amsterdam", t + 3600)
    assert not view.overdue and view.target_s == 0  # taken on: no longer waiting


def test_which_button_of_a_remote_is_said_in_dutch_and_english() -> None:
    # A 4-button remote's third button (the edge's alarm detail `button`).
    assert items({"press": "double_press", "button": 3}) == [
        ("", "dubbel ingedrukt"),
        ("knop nr.", "3"),
    ]
    assert items({"press": "press", "button": 2}, "en") == [
        ("", "button pressed"),
        ("button no.", "2"),
    ]
