"""The monthly report's figures (alerts.impact), from alarms and timelines whose answers are
worked out by hand here: percentiles, what counts as a person's response, month bounds
across DST, downtime split over months, outcome shares."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts import impact, lifecycle, report
from alerts.centre import CENTRE
from alerts.impact import Month
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome, Severity, TimelineEntry
from alerts.store import AlarmStore
from tests.ops_store import ops_engine

AMS = ZoneInfo("Europe/Amsterdam")
NOV = Month(2026, 11)


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=AMS).timestamp()


def alarm(
    alarm_id: str,
    at: float,
    *,
    dwelling: str = "dw-001",
    kind: AlarmKind = AlarmKind.PERSONAL,
    severity: Severity = Severity.HIGH,
    **more: Any,
) -> AlarmRecord:
    rec = AlarmRecord(
        id=alarm_id,
        dwelling=dwelling,
        kind=kind,
        severity=severity,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=at - 2.0,
        received_at=at,
    )
    return replace(rec, **more)


def offline(
    alarm_id: str, start: float, end: float | None, dwelling: str = "dw-001"
) -> AlarmRecord:
    return alarm(
        alarm_id,
        start,
        dwelling=dwelling,
        kind=AlarmKind.TECHNICAL,
        severity=Severity.MEDIUM,
        source="hub",
        state=AlarmState.RESOLVED if end is not None else AlarmState.RAISED,
        resolved_at=end,
        resolved_by="hub" if end is not None else None,
        detail={"key": "offline"},
    )


def entry(at: float, what: str, by: str | None = "jan") -> TimelineEntry:
    return TimelineEntry(at, what, by, "")


def acked(alarm_id: str, at: float, after_s: float, **more: Any) -> AlarmRecord:
    """An alarm an operator acknowledged `after_s` after the hub received it."""
    return alarm(
        alarm_id,
        at,
        state=AlarmState.ACKNOWLEDGED,
        acknowledged_at=at + after_s,
        acknowledged_by="jan",
        **more,
    )


def ack_timeline(rec: AlarmRecord) -> list[TimelineEntry]:
    out = [
        entry(rec.raised_at, "raised_at_source", "edge"),
        entry(rec.received_at, "received", "edge"),
    ]
    if rec.acknowledged_at is not None:
        out.append(entry(rec.acknowledged_at, "acknowledged"))
    return out


def figures(
    alarms: list[AlarmRecord],
    timelines: dict[str, list[TimelineEntry]] | None = None,
    *,
    month: Month = NOV,
    now: float | None = None,
    dwellings: tuple[str, ...] = (),
) -> impact.MonthlyReport:
    found = timelines if timelines is not None else {a.id: ack_timeline(a) for a in alarms}
    return impact.monthly(
        alarms,
        lambda alarm_id: found.get(alarm_id, []),
        month=month,
        tz=AMS,
        now=now if now is not None else local("2027-01-15T12:00"),
        dwellings=dwellings,
    )


# -- percentiles -------------------------------------------------------------------------


def test_ten_response_times_give_p50_and_p90_by_linear_interpolation() -> None:
    # 10, 20, ..., 100 s: rank (n - 1) q = 4.5 -> 50 + 0.5 * 10 = 55; 8.1 -> 90 + 0.1 * 10 = 91.
    t0 = local("2026-11-03T10:00")
    alarms = [acked(f"a{i}", t0 + i * 3600, 10.0 * i) for i in range(1, 11)]
    f = figures(alarms).total
    assert f.first_response == impact.Spread(10, 55.0, 91.0, small_sample=False)
    assert f.taken_on == f.first_response  # an operator's ack is both
    assert f.care_alarms == f.alarms == 10 and f.no_response == 0


def test_fewer_than_ten_values_are_shown_but_flagged() -> None:
    # 30, 60, 90, 120: rank 1.5 -> 75; rank 2.7 -> 90 + 0.7 * 30 = 111.
    t0 = local("2026-11-03T10:00")
    alarms = [acked(f"a{i}", t0 + i * 60, 30.0 * i) for i in range(1, 5)]
    assert figures(alarms).total.first_response == impact.Spread(4, 75.0, 111.0, True)
    assert figures([]).total.first_response == impact.Spread(0, None, None, False)


@pytest.mark.parametrize(
    ("data", "q", "expected"),
    [
        ([7.0], 0.9, 7.0),
        ([10.0, 20.0], 0.5, 15.0),
        ([10.0, 20.0], 0.9, 19.0),
        ([1.0, 2.0, 3.0], 0.0, 1.0),
    ],
)
def test_percentile(data: list[float], q: float, expected: float) -> None:
    assert impact.percentile(data, q) == pytest.approx(expected)


# -- who responded -----------------------------------------------------------------------


def test_only_a_person_s_step_is_a_response_not_the_centre_s_ack_or_a_notification() -> None:
    t0 = local("2026-11-10T08:00")
    rec = alarm(
        "a1",
        t0,
        state=AlarmState.ACKNOWLEDGED,
        acknowledged_at=t0 + 40,
        centre_handed_at=t0,
        centre_acked_at=t0 + 2,
    )
    timeline = [
        entry(t0 - 2, "raised_at_source", "edge"),
        entry(t0, "received", "edge"),
        entry(t0, "handed_to_centre", "hub"),
        entry(t0 + 1, "notified", "email:c-anna"),
        entry(t0 + 2, "centre_acknowledged", CENTRE),
        entry(t0 + 5, "failed", "sms:c-anna"),
        entry(t0 + 40, "on_my_way", "Anna de Vries (mantelzorger)"),
        entry(t0 + 90, "arrived", "Anna de Vries (mantelzorger)"),
    ]
    assert impact.first_response_at(rec, timeline) == t0 + 40
    f = figures([rec], {"a1": timeline}).total
    assert f.first_response.p50_s == 40.0 and f.taken_on.p50_s == 40.0


def test_an_operator_closing_without_ack_responded_but_did_not_take_it_on() -> None:
    t0 = local("2026-11-10T08:00")
    rec = alarm(
        "a1",
        t0,
        state=AlarmState.RESOLVED,
        resolved_at=t0 + 25,
        resolved_by="jan",
        outcome=Outcome.OTHER,
    )
    f = figures([rec], {"a1": [entry(t0, "received", "edge"), entry(t0 + 25, "resolved")]}).total
    assert f.first_response == impact.Spread(1, 25.0, 25.0, True)
    assert f.taken_on.n == 0


def test_a_cancel_at_the_edge_is_no_response() -> None:
    t0 = local("2026-11-10T08:00")
    cancelled = alarm("a1", t0, state=AlarmState.RESOLVED, resolved_at=t0 + 9, resolved_by="edge")
    # The cancel that overtook its raise is stored resolved: its first entry is "resolved".
    early = alarm("a2", t0 + 60, state=AlarmState.RESOLVED, resolved_at=t0 + 60, resolved_by="edge")
    timelines = {
        "a1": [entry(t0, "received", "edge"), entry(t0 + 9, "cancelled", "edge")],
        "a2": [entry(t0 + 60, "resolved", "edge")],
    }
    f = figures([cancelled, early], timelines).total
    assert f.first_response.n == 0 and f.no_response == 2 and f.cancelled_at_edge == 2


def test_technical_alarms_are_counted_by_kind_but_left_out_of_the_response_times() -> None:
    t0 = local("2026-11-10T08:00")
    care = acked("a1", t0, 30.0)
    tech = replace(offline("t1", t0, t0 + 3600), acknowledged_at=t0 + 5)
    timelines = {"a1": ack_timeline(care), "t1": [entry(t0 + 5, "acknowledged")]}
    f = figures([care, tech], timelines).total
    assert f.alarms == 2 and f.care_alarms == 1
    assert f.by_kind["technical"] == 1 and f.by_kind["personal"] == 1
    assert f.by_severity == {"low": 0, "medium": 1, "high": 1, "critical": 0}
    assert f.first_response == f.taken_on == impact.Spread(1, 30.0, 30.0, True)
    assert f.no_response == 0


# -- months ---------------------------------------------------------------------------------


def test_months_run_from_local_midnight_across_dst() -> None:
    march = Month(2026, 3).bounds(AMS)
    october = Month(2026, 10).bounds(AMS)
    assert march[1] - march[0] == (31 * 24 - 1) * 3600.0  # clocks forward on 29 March
    assert october[1] - october[0] == (31 * 24 + 1) * 3600.0  # back on 25 October
    assert october[0] == datetime.fromisoformat("2026-09-30T22:00+00:00").timestamp()
    assert october[1] == datetime.fromisoformat("2026-10-31T23:00+00:00").timestamp()


def test_an_alarm_belongs_to_its_local_month() -> None:
    # 31 October, 22:30 UTC is 23:30 in Amsterdam (CET): October. 23:30 UTC is already
    # 1 November, 00:30: November (a month cut at UTC midnight would say October).
    late = alarm("late", datetime.fromisoformat("2026-10-31T22:30+00:00").timestamp())
    first = alarm("first", datetime.fromisoformat("2026-10-31T23:30+00:00").timestamp())
    assert figures([late, first], {}, month=Month(2026, 10)).total.alarms == 1
    assert [d.dwelling for d in figures([late, first], {}, month=Month(2026, 10)).dwellings] == [
        "dw-001"
    ]
    nov = figures([late, first], {})
    assert nov.total.alarms == 1 and nov.total.no_response == 1


def test_a_month_of_downtime_is_its_hours_with_the_dst_hour() -> None:
    whole = offline("t1", local("2026-09-20T10:00"), local("2026-11-02T10:00"))
    f = figures([whole], {}, month=Month(2026, 10)).total
    assert f.downtime_h == 745.0 and f.outages == 1
    assert f.alarms == 0  # received in September: counted there, by kind


def test_an_offline_alarm_over_two_months_is_split_at_local_midnight() -> None:
    t = offline("t1", local("2026-11-30T22:00"), local("2026-12-01T03:00"))
    nov, dec = figures([t], {}), figures([t], {}, month=Month(2026, 12))
    assert (nov.total.downtime_h, nov.total.outages, nov.total.alarms) == (2.0, 1, 1)
    assert (dec.total.downtime_h, dec.total.outages, dec.total.alarms) == (3.0, 1, 0)
    assert [d.dwelling for d in dec.dwellings] == ["dw-001"]  # listed for its downtime


def test_an_offline_alarm_still_open_counts_up_to_now() -> None:
    t = offline("t1", local("2026-11-20T06:00"), None)
    now = local("2026-11-20T15:30")
    found = figures([t], {}, now=now)
    assert found.total.downtime_h == 9.5 and not found.complete
    assert figures([t], {}, now=local("2026-12-02T00:00")).total.downtime_h == 10 * 24 + 18


def test_downtime_is_per_dwelling_and_overlaps_count_once() -> None:
    a = offline("t1", local("2026-11-05T08:00"), local("2026-11-05T12:00"))
    b = offline("t2", local("2026-11-05T10:00"), local("2026-11-05T14:00"))  # overlaps a
    c = offline("t3", local("2026-11-06T08:00"), local("2026-11-06T09:00"))
    d = offline("t4", local("2026-11-05T08:00"), local("2026-11-05T09:30"), dwelling="dw-002")
    silent = replace(c, id="t5", detail={"key": "clock"})  # not a sensor outage
    found = figures([a, b, c, d, silent], {})
    per = {x.dwelling: x.figures for x in found.dwellings}
    assert (per["dw-001"].downtime_h, per["dw-001"].outages) == (7.0, 2)
    assert (per["dw-002"].downtime_h, per["dw-002"].outages) == (1.5, 1)
    assert (found.total.downtime_h, found.total.outages) == (8.5, 3)


# -- outcomes and the centre -----------------------------------------------------------------


def test_outcome_shares_and_the_alarms_without_one() -> None:
    t0 = local("2026-11-12T09:00")
    done: dict[str, Any] = {
        "state": AlarmState.RESOLVED,
        "resolved_at": t0 + 600,
        "resolved_by": "jan",
    }
    alarms = [
        alarm("f1", t0, outcome=Outcome.FALSE_ALARM, **done),
        alarm("f2", t0 + 1, outcome=Outcome.FALSE_ALARM, **done),
        alarm("amb", t0 + 2, outcome=Outcome.AMBULANCE, **done),
        # The family closed it, the centre holds it: open, but with their outcome.
        alarm("fam", t0 + 3, state=AlarmState.ACKNOWLEDGED, outcome=Outcome.FAMILY_HELP),
        alarm("none", t0 + 4, **done),
        alarm("edge", t0 + 5, state=AlarmState.RESOLVED, resolved_at=t0 + 9, resolved_by="edge"),
        alarm("open", t0 + 6),
        # A technical alarm an operator closed as a false alarm: not a care alarm.
        replace(offline("t1", t0, t0 + 60), outcome=Outcome.FALSE_ALARM),
    ]
    f = figures(alarms, {}).total
    assert f.outcomes == {
        "false_alarm": 2,
        "family_help": 1,
        "care_provider": 0,
        "ambulance": 1,
        "other": 0,
    }
    assert f.with_outcome == 4 and f.false_alarm_share == 0.5
    assert (f.without_outcome, f.cancelled_at_edge, f.still_open) == (1, 1, 1)
    assert f.care_alarms == 7 and f.alarms == 8


def test_hand_overs_to_the_centre_at_once_or_escalated() -> None:
    t0 = local("2026-11-12T09:00")
    alarms = [
        alarm("fall", t0, kind=AlarmKind.FALL, centre_handed_at=t0),
        alarm(
            "crit",
            t0 + 1,
            kind=AlarmKind.VITALS,
            severity=Severity.CRITICAL,
            centre_handed_at=t0 + 1,
        ),
        alarm(
            "late",
            t0 + 2,
            kind=AlarmKind.INACTIVITY,
            severity=Severity.MEDIUM,
            centre_handed_at=t0 + 122,
        ),
        alarm("home", t0 + 3, kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM),
        offline("t1", t0, t0 + 60),
    ]
    f = figures(alarms, {}).total
    assert (f.to_centre, f.to_centre_direct, f.to_centre_escalated) == (3, 2, 1)
    assert f.to_centre_share == 3 / 4
    empty = figures([], {}, dwellings=("dw-009",))
    assert empty.total.to_centre_share is None and empty.total.false_alarm_share is None
    assert [d.dwelling for d in empty.dwellings] == ["dw-009"] and empty.total.empty


def test_per_dwelling_figures_and_one_dwelling_alone() -> None:
    t0 = local("2026-11-12T09:00")
    alarms = [acked("a", t0, 20.0), acked("b", t0, 40.0, dwelling="dw-002")]
    found = figures(alarms, dwellings=("dw-003", "dw-001"))
    per = {d.dwelling: d.figures for d in found.dwellings}
    assert list(per) == ["dw-001", "dw-002", "dw-003"]
    assert per["dw-001"].first_response.p50_s == 20.0 and per["dw-002"].first_response.p50_s == 40.0
    assert per["dw-003"].empty and found.total.first_response.p50_s == 30.0
    alone = impact.monthly(
        alarms, lambda a: ack_timeline(next(x for x in alarms if x.id == a)), month=NOV, tz=AMS,
        now=local("2027-01-01T00:00"), dwellings=("dw-001", "dw-003"), only="dw-002",
    )  # fmt: skip
    assert [d.dwelling for d in alone.dwellings] == ["dw-002"]
    assert alone.total.alarms == 1 and alone.total.first_response.p50_s == 40.0


# -- month text, CSV, the store ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "november", "2026-00", "", "1900-05"])
def test_a_bad_month_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="is no month: give YYYY-MM"):
        Month.parse(text)


def test_default_month_and_not_yet_begun() -> None:
    assert impact.default_month(local("2027-01-01T00:30"), AMS) == Month(2026, 12)
    assert impact.default_month(local("2026-12-31T23:59"), AMS) == Month(2026, 11)
    impact.check_begun(Month(2026, 12), local("2026-12-01T00:00"), AMS)  # begun at midnight
    with pytest.raises(ValueError, match="2027-01 has not begun yet"):
        impact.check_begun(Month(2027, 1), local("2026-12-31T23:59"), AMS)


def test_the_csv_has_a_row_per_dwelling_and_the_total_and_no_formula() -> None:
    t0 = local("2026-11-12T09:00")
    found = figures([acked("a", t0, 20.0), acked("b", t0, 40.0, dwelling="dw-002")])
    out = io.StringIO()
    labels = {"dw-001": "=HYPERLINK(1)", "dw-002": "Unit 7, Kerkpad"}
    n = report.write_csv(out, impact.csv_rows(found, labels.__getitem__), impact.COLUMNS)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == 3 and [r["row"] for r in rows] == ["dwelling", "dwelling", "total"]
    assert rows[0]["label"] == "'=HYPERLINK(1)" and rows[1]["label"] == "Unit 7, Kerkpad"
    assert rows[2]["first_response_p50_s"] == "30.0" and rows[2]["first_response_n"] == "2"
    assert (
        rows[2]["first_response_small_sample"] == "true" and rows[2]["to_centre_share"] == "0.0000"
    )
    assert rows[0]["false_alarm_share"] == "" and rows[0]["kind_personal"] == "1"
    assert list(rows[0]) == list(impact.COLUMNS)


def test_load_reads_the_month_s_alarms_and_the_outage_open_since_before(tmp_path: Path) -> None:
    store = AlarmStore(ops_engine(tmp_path))
    try:
        store.insert_alarm(offline("t-oct", local("2026-10-30T20:00"), None), tech_key="offline")
        store.update(
            "t-oct",
            lambda r: lifecycle.resolve(r, "hub", "", local("2026-11-02T08:00")),
            at=local("2026-11-02T08:00"),
            by="hub",
        )
        store.insert_alarm(offline("t-old", local("2026-10-01T00:00"), local("2026-10-02T00:00")))
        t0 = local("2026-11-05T10:00")
        store.insert_alarm(alarm("a1", t0))
        store.update(
            "a1", lambda r: lifecycle.acknowledge(r, "jan", "", t0 + 12), at=t0 + 12, by="jan"
        )
        store.insert_alarm(alarm("dec", local("2026-12-01T00:00")))
        found = impact.load(store, NOV, AMS, local("2027-01-01T00:00"))
    finally:
        store.engine.dispose()
    f = found.total
    assert f.alarms == 1 and f.first_response.p50_s == 12.0  # "dec" is December's
    assert f.downtime_h == 32.0 and f.outages == 1  # 1 Nov 00:00 to 2 Nov 08:00


def test_a_test_alarm_is_no_incident() -> None:
    t0 = local("2026-11-10T08:00")
    care = acked("a1", t0, 30.0)
    test = acked("a2", t0 + 60, 5.0, detail={"test": True, "command": "c" * 32})
    f = figures([care, test]).total
    assert f.alarms == 1 and f.by_kind["personal"] == 1
