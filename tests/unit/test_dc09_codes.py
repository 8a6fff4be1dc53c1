"""Which Contact ID event code each of our alarms goes to the alarm centre with."""

from __future__ import annotations

import pytest

from alerts.dc09.codes import LINK_TEST_CODE, event_code
from hub.ingest import ALARMS_REFUSED_KEY, CLOCK_KEY, REFUSED_KEY
from hub.presence import OFFLINE_KEY
from sensors.contract import AlarmKind, Severity


@pytest.mark.parametrize(
    ("kind", "severity", "code"),
    [
        (AlarmKind.PERSONAL, Severity.CRITICAL, 101),  # the pendant's button
        (AlarmKind.FALL, Severity.HIGH, 100),
        (AlarmKind.LONG_LIE, Severity.CRITICAL, 100),
        (AlarmKind.VITALS, Severity.CRITICAL, 100),  # NEWS2 of alarm-centre severity
        (AlarmKind.VITALS, Severity.MEDIUM, 100),  # the code does not depend on severity
    ],
)
def test_resident_alarms(kind: AlarmKind, severity: Severity, code: int) -> None:
    assert event_code(kind, severity, {}) == code


def test_inactivity_is_system_inactivity() -> None:
    # The routine detector's inactivity rule: quiet for longer than the learned threshold.
    detail = {"since": 1.7e9, "threshold_s": 14400.0, "learned": True}
    assert event_code(AlarmKind.INACTIVITY, Severity.HIGH, detail) == 654
    assert event_code(AlarmKind.INACTIVITY, Severity.HIGH, {"since": 1.7e9}) == 654  # night door


@pytest.mark.parametrize(
    "detail",
    [
        {"up_by_min": 600},  # what edge.detectors.routine's not-up alarm carries
        {"rule": "not_up"},
        {"reason": "resident not up"},
        {"rule": "Not-Up"},
    ],
)
def test_not_up_is_senior_watch_trouble(detail: dict[str, object]) -> None:
    assert event_code(AlarmKind.INACTIVITY, Severity.HIGH, detail) == 641


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (OFFLINE_KEY, 350),  # hub.presence: the dwelling's connection is gone
        ("sensor_silent", 381),
        ("battery_low", 384),
        ("battery", 384),
        (REFUSED_KEY, 300),
        (ALARMS_REFUSED_KEY, 300),
        (CLOCK_KEY, 300),
        ("", 300),
    ],
)
def test_technical_alarms_by_key(key: str, code: int) -> None:
    detail = {"key": key, "reason": "whatever"} if key else {}
    assert event_code(AlarmKind.TECHNICAL, Severity.MEDIUM, detail) == code


def test_link_test_code() -> None:
    assert LINK_TEST_CODE == 602
