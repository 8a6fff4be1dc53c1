"""What the edge's detectors really put in `detail` passes the strict wire contract.

Each detector is driven through its real adapter (the same helpers their own tests use);
every finding is sent as the pipeline sends it (an Event, plus an AlarmMessage when it is
an alarm) and decoded by the hub with its clock, so a tightened limit can never silently
refuse a detector's events or alarms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest

from edge.detection import Finding
from edge.detectors.routine_model import RoutineModel
from edge.detectors.trends import day_start
from edge.routine_adapter import RoutineAdapter, profile
from edge.trends_adapter import TrendsAdapter
from edge.vitals_adapter import VitalsAdapter
from sensors import contract
from sensors.readings import ButtonPress, Reading
from tests.unit import test_early_warning_adapters as ew
from tests.unit import test_fall_monitor as fm
from tests.unit import test_routine_adapter_profile as rp
from tests.unit import test_trends_state as tr

# Settings made here without a spool path keep the agent's state files in tmp_path.
pytestmark = pytest.mark.usefixtures("edge_state_in_tmp")


def sent(kind: str, t: float, sensor: str | None, detail: dict[str, object]) -> None:
    """Encode `detail` as the pipeline does and decode it as the hub does (clock = t)."""
    event = contract.Event(id=contract.new_id(), dwelling="dw-001", ts=t, kind=kind,
                           sensor=sensor, detail=detail)  # fmt: skip
    _, back = contract.decode(*contract.encode(event), now=t)
    assert isinstance(back, contract.Event) and back.detail == detail, kind


def findings_pass(found: Iterable[Finding]) -> set[str]:
    kinds = set()
    for f in found:
        sent(f.kind, f.t, f.sensor, dict(f.detail))
        if f.alarm is not None:
            alarm = contract.AlarmMessage(
                id=contract.new_id(),
                dwelling="dw-001",
                ts=f.t,
                action="raise" if f.on else "cancel",
                alarm_id=contract.new_id(),
                kind=f.alarm,
                severity=f.severity,
                sensor=f.sensor,
                detail=dict(f.detail),
            )
            _, back = contract.decode(*contract.encode(alarm), now=f.t)
            assert back == alarm
        kinds.add(f.kind)
    return kinds


def test_routine_profile_cold_and_learned() -> None:
    for model in (RoutineModel(), rp.learned_model()):
        detail = profile(model)
        assert len(detail) <= contract.MAX_DETAIL_KEYS
        sent("routine_profile", 1_780_000_000.0, None, dict(detail))


def test_routine_detector_findings() -> None:
    start = date(2024, 3, 4)
    adapter = RoutineAdapter(ew.SENSORS, tz=ew.TZ, start_t=ew.at(start, 0) - 6 * 3600,
                             state_path=None)  # fmt: skip
    collapse = ew.at(date(2024, 3, 12), 10.5)
    found = ew.live(adapter, start, 9, collapse)
    t = collapse
    while t < collapse + 12 * 3600:  # silence: the inactivity alarm
        t += 300
        found.extend(adapter.advance(t))
    found.extend(adapter.update([Reading("pir_living", "motion", t + 60, 1.0)], t + 60))
    kinds = findings_pass(found)
    assert {"routine_profile", "inactivity", "inactivity_cancelled"} <= kinds


def test_vitals_news2_findings() -> None:
    adapter = VitalsAdapter.from_settings(ew.settings())  # type: ignore[arg-type]
    assert adapter is not None
    t = 1_780_000_000.0
    found: list[Finding] = []
    found += adapter.update([Reading("vitals-1", "sbp", t, 88.0)], t)
    found += adapter.update(
        [
            Reading("vitals-1", "hr", t + 60, 135.0),
            Reading("thermo-1", "temperature", t + 60, 39.5),
        ],
        t + 60,
    )
    found += adapter.update(
        [Reading("vitals-1", "spo2", t + 90, 80.0), Reading("vitals-1", "status", t + 90, 4.0)],
        t + 90,
    )
    found += adapter.update([Reading("vitals-1", "sbp", t + 120, 125.0)], t + 120)
    found += adapter.update([Reading("vitals-1", "hr", t + 150, 72.0)], t + 150)
    found += adapter.update([Reading("thermo-1", "temperature", t + 180, 36.8)], t + 180)
    found += adapter.advance(t + 3 * 86400)
    kinds = findings_pass(found)
    assert {"news2_band_changed", "vitals_alarm", "reading_invalid"} <= kinds


def test_trend_findings(tmp_path: Path) -> None:
    adapter = TrendsAdapter.from_settings(tr.settings(tmp_path))
    assert adapter is not None
    found: list[Finding] = []
    for i in range(9):
        found += tr.band_day(adapter, i, 60.0)
    for i in (9, 10):
        found += tr.band_day(adapter, i, 80.0)
    found += adapter.advance(day_start(tr.D0 + timedelta(days=11), tr.TZ) + 60)
    found += tr.band_day(adapter, 11, 60.0)
    found += adapter.advance(day_start(tr.D0 + timedelta(days=12), tr.TZ) + 60)
    assert {"trend_alarm", "trend_alarm_cancelled"} <= findings_pass(found)


def test_fall_findings() -> None:
    m = fm.scripted(window=30.0, long_lie=300.0)
    found: Sequence[object] = fm.feed(m, 3.0)
    falls = [f for f in found if isinstance(f, Finding)]
    falls += m.advance(fm.T0 + 33.0)
    falls += m.advance(fm.T0 + 302.0)
    falls += m.cancel_pressed(fm.T0 + 310.0)
    kinds = findings_pass(falls)
    assert {"fall_confirmed", "fall_alarm", "long_lie", "fall_cancelled"} <= kinds


def test_pendant_and_technical_details() -> None:
    for press in ButtonPress:
        sent("button", 1_780_000_000.0, "pendant-1", {"press": press.value})
    sent("sensor_silent", 1_780_000_000.0, "bed-1", {"for_s": 3600, "source": "routine"})
    sent("sensor_silent", 1_780_000_000.0, "bed-1", {})
