"""The edge fall-alarm policy with injected time."""

from __future__ import annotations

import pytest

from edge.detectors.fall import FallEvent, FallEventKind
from edge.detectors.fall_alarm import (
    AlarmDecision,
    DecisionKind,
    FallAlarmConfig,
    FallAlarmPolicy,
    Severity,
)


def confirmed(t: float, impact: float | None = None) -> FallEvent:
    return FallEvent(FallEventKind.FALL_CONFIRMED, t, t - 5.0 if impact is None else impact, 4.2)


def got_up(t: float) -> FallEvent:
    return FallEvent(FallEventKind.FALL_CANCELLED, t, 0.0, 4.2)


def kinds(ds: list[AlarmDecision]) -> list[DecisionKind]:
    return [d.kind for d in ds]


def test_defaults() -> None:
    c = FallAlarmConfig()
    assert c.cancel_window_s == 30.0
    assert c.long_lie_s == 300.0


def test_fall_alarm_after_cancel_window_then_long_lie() -> None:
    p = FallAlarmPolicy()
    assert p.on_events([confirmed(105.0, impact=100.0)]) == []
    assert p.advance(134.9) == []
    raised = p.advance(135.0)
    assert kinds(raised) == [DecisionKind.RAISE_FALL_ALARM]
    assert raised[0].time == 135.0
    assert raised[0].severity is Severity.HIGH
    assert raised[0].impact_time == 100.0
    assert p.advance(399.0) == []
    ll = p.advance(1000.0)
    assert kinds(ll) == [DecisionKind.RAISE_LONG_LIE]
    assert ll[0].time == 400.0  # impact + 5 min, even though time jumped past it
    assert ll[0].severity is Severity.CRITICAL
    assert p.advance(5000.0) == []


def test_late_advance_raises_both_in_order() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    out = p.advance(10_000.0)
    assert kinds(out) == [DecisionKind.RAISE_FALL_ALARM, DecisionKind.RAISE_LONG_LIE]
    assert out[0].time < out[1].time


def test_button_in_cancel_window_cancels_quietly() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    out = p.cancel_pressed(25.0)
    assert kinds(out) == [DecisionKind.CANCEL]
    assert out[0].reason == "button"
    assert p.advance(1000.0) == []


def test_getting_up_in_cancel_window_cancels() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    out = p.on_events([got_up(30.0)])
    assert kinds(out) == [DecisionKind.CANCEL]
    assert out[0].reason == "got_up"
    assert p.advance(1000.0) == []


def test_getting_up_after_alarm_stops_long_lie_but_keeps_alarm() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    assert kinds(p.advance(41.0)) == [DecisionKind.RAISE_FALL_ALARM]
    out = p.on_events([got_up(100.0)])
    assert kinds(out) == [DecisionKind.RECOVERED]
    assert p.advance(3000.0) == []
    # the resident can still withdraw the raised alarm with the button
    assert kinds(p.cancel_pressed(3001.0)) == [DecisionKind.CANCEL]


def test_a_settled_incident_ends_after_the_hold() -> None:
    """An hour after the incident's last alarm a long press is no longer "ik ben oke"
    for it (the pendant's long press is an ordinary call again)."""
    p = FallAlarmPolicy(FallAlarmConfig(incident_hold_s=3600.0))
    p.on_events([confirmed(10.0)])
    p.advance(41.0)
    p.on_events([got_up(100.0)])
    assert p.state == "done"
    assert p.advance(3699.0) == [] and p.state == "done"
    assert p.advance(3700.0) == [] and p.state == "idle"
    assert p.cancel_pressed(3701.0) == []


def test_button_after_alarm_cancels_it() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    p.advance(60.0)
    assert kinds(p.cancel_pressed(61.0)) == [DecisionKind.CANCEL]
    assert p.advance(10_000.0) == []


def test_button_without_incident_does_nothing() -> None:
    assert FallAlarmPolicy().cancel_pressed(5.0) == []


def test_second_confirmation_is_the_same_incident() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    p.on_events([confirmed(20.0)])
    out = p.advance(100.0)
    assert kinds(out) == [DecisionKind.RAISE_FALL_ALARM]
    assert out[0].time == 40.0


def test_new_fall_after_recovery_is_a_new_incident() -> None:
    p = FallAlarmPolicy()
    p.on_events([confirmed(10.0)])
    p.on_events([got_up(20.0)])
    p.on_events([confirmed(500.0)])
    assert kinds(p.advance(531.0)) == [DecisionKind.RAISE_FALL_ALARM]


def test_configurable_and_validated() -> None:
    p = FallAlarmPolicy(FallAlarmConfig(cancel_window_s=0.0, long_lie_s=60.0))
    out = p.on_events([confirmed(10.0, impact=5.0)])
    assert kinds(out) == [DecisionKind.RAISE_FALL_ALARM]
    assert kinds(p.advance(65.0)) == [DecisionKind.RAISE_LONG_LIE]
    with pytest.raises(ValueError):
        FallAlarmConfig(cancel_window_s=60.0, long_lie_s=30.0)


def test_fall_and_up_at_once_is_an_event_not_an_alarm() -> None:
    """The detector confirms a fall the person got up from at once and then reports the
    getting up: the policy cancels inside its window (reason got_up); nothing is raised."""
    from edge.detectors.fall import FallDetector, load_params
    from tests.unit.test_fall_detector import fall_and_up, stream

    t, a = fall_and_up(20.0)
    events = stream(FallDetector(load_params()), t, a)
    p = FallAlarmPolicy()
    out = p.on_events(events)
    out += p.advance(float(t[-1]) + 600.0)
    assert kinds(out) == [DecisionKind.CANCEL]
    assert out[0].reason == "got_up"


def suspected(t: float, impact: float) -> FallEvent:
    return FallEvent(FallEventKind.IMPACT_SUSPECTED, t, impact, 3.6)


def dismissed(t: float, impact: float) -> FallEvent:
    return FallEvent(FallEventKind.IMPACT_DISMISSED, t, impact, 3.6)


def silent_policy() -> FallAlarmPolicy:
    return FallAlarmPolicy(FallAlarmConfig(silent_after_impact_s=60.0))


def test_impact_then_silence_raises_a_fall_alarm_without_long_lie() -> None:
    p = silent_policy()
    p.heard(101.4)
    assert p.on_events([suspected(101.5, impact=100.0)]) == []
    assert p.suspecting
    p.heard(102.0)  # the wearable's last sample: 2 s after the impact, then nothing
    assert p.advance(161.9) == []
    (raised,) = p.advance(162.0)
    assert (raised.kind, raised.reason, raised.severity) == (
        DecisionKind.RAISE_FALL_ALARM,
        "silent_after_impact",
        Severity.HIGH,
    )
    assert raised.time == 162.0 and raised.impact_time == 100.0 and raised.peak_g == 3.6
    assert p.advance(1000.0) == []  # no long lie: getting up cannot be seen
    assert kinds(p.cancel_pressed(1001.0)) == [DecisionKind.CANCEL]  # "ik ben oke"


def test_a_dismissed_impact_raises_nothing() -> None:
    """The detector saw the aftermath and turned the impact down: its call stands."""
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(105.0)
    assert p.on_events([dismissed(105.0, impact=100.0)]) == []
    assert not p.suspecting
    assert p.advance(1000.0) == []


def test_samples_alone_do_not_settle_a_suspicion() -> None:
    """A wearable that was silent through the decision and sends again has not shown the
    aftermath: only the detector's verdict (confirm or dismiss) settles the impact."""
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(102.0)
    p.heard(130.0)  # back after 28 s (one stray frame), then silent again
    assert p.advance(189.9) == []
    (raised,) = p.advance(190.0)
    assert raised.reason == "silent_after_impact"


def test_impact_then_a_confirmed_fall_takes_the_normal_course() -> None:
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(103.0)
    assert p.on_events([confirmed(105.0, impact=100.0)]) == []  # decided on what came
    out = p.advance(1000.0)
    assert kinds(out) == [DecisionKind.RAISE_FALL_ALARM, DecisionKind.RAISE_LONG_LIE]
    assert out[0].reason == "cancel_window_elapsed"


def test_back_and_lying_after_a_silent_alarm_joins_it() -> None:
    """The fall confirmed late for an impact already alarmed: no second alarm, the
    long-lie timer runs from the impact, getting up is seen."""
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(102.0)
    assert kinds(p.advance(162.0)) == [DecisionKind.RAISE_FALL_ALARM]
    assert p.on_events([confirmed(200.0, impact=100.0)]) == []
    (lie,) = p.advance(400.0)
    assert (lie.kind, lie.time) == (DecisionKind.RAISE_LONG_LIE, 400.0)
    assert kinds(p.on_events([got_up(500.0)])) == []  # long lie raised: done


def test_back_and_up_after_a_silent_alarm_ends_the_incident() -> None:
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(102.0)
    p.advance(162.0)
    assert p.state == "done"
    assert p.on_events([dismissed(200.0, impact=100.0)]) == []
    assert p.state == "idle"  # the raised alarm stays; the button means help again
    assert p.cancel_pressed(300.0) == []


def test_ik_ben_oke_during_the_suspicion() -> None:
    p = silent_policy()
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(102.0)
    (ok,) = p.cancel_pressed(110.0)
    assert (ok.kind, ok.reason, ok.impact_time) == (DecisionKind.CANCEL, "button", 100.0)
    assert not p.suspecting
    assert p.advance(1000.0) == []  # no silent alarm
    assert p.on_events([confirmed(1005.0, impact=100.0)]) == []  # nor a late one
    assert p.advance(5000.0) == []


def test_silence_rule_can_be_turned_off() -> None:
    p = FallAlarmPolicy(FallAlarmConfig(silent_after_impact_s=0.0))
    p.on_events([suspected(101.5, impact=100.0)])
    p.heard(102.0)
    assert p.advance(10_000.0) == []
    for bad in (-1.0, 5.0):  # shorter than the detector's own wait: refused
        with pytest.raises(ValueError):
            FallAlarmConfig(silent_after_impact_s=bad)
