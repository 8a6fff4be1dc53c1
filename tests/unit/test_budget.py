"""Per-dwelling budgets: a flood is refused and counted, a healthy edge never is."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.budget import BudgetPolicy, DwellingBudgets, Rate
from hub.config import load_settings
from hub.errors import ConfigError
from sensors.contract import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_BATCH, Channel

T0 = 1_764_000_000.0
R, E, S, A = Channel.READINGS, Channel.EVENTS, Channel.STATUS, Channel.ALARMS


def test_a_healthy_edge_a_day_long_is_never_refused() -> None:
    budgets = DwellingBudgets(BudgetPolicy())
    for s in range(86_400):
        now = T0 + s
        # ~1 readings batch/s, now and then a big one, a status every 30 s, an event and
        # an alarm now and then.
        big = s % 600 == 0
        readings = MAX_READINGS_PER_BATCH if big else 50
        size = MAX_PAYLOAD_BYTES if big else 6000
        assert budgets.admit("dw-001", R, readings=readings, size=size, now=now) is None
        if s % 30 == 0:
            assert budgets.admit("dw-001", S, readings=0, size=400, now=now) is None
        if s % 900 == 0:
            assert budgets.admit("dw-001", E, readings=0, size=800, now=now) is None
        if s % 7200 == 0:
            assert budgets.admit_alarm("dw-001", open_alarms=3, now=now) is None
    assert budgets.refused("dw-001") == {}


def test_a_paced_replay_after_an_outage_is_never_refused() -> None:
    """Two days of backlog: alarms first, events and status at once, readings at 20/s."""
    budgets = DwellingBudgets(BudgetPolicy())
    for _ in range(20):
        assert budgets.admit_alarm("dw-001", open_alarms=0, now=T0) is None
    for i in range(600):  # events of two days, unpaced (as fast as the edge publishes)
        assert budgets.admit("dw-001", E, readings=0, size=800, now=T0 + i * 0.001) is None
    t = T0 + 1
    for _ in range(2 * 86_400):  # a readings batch a second for two days, replayed
        t += 1 / 20
        assert budgets.admit("dw-001", R, readings=100, size=12_000, now=t) is None
    assert budgets.refused_all() == {}


def test_a_readings_flood_is_refused_and_counted_without_touching_alarms_or_others() -> None:
    budgets = DwellingBudgets(BudgetPolicy())
    outcomes = [
        budgets.admit("dw-bad", R, readings=2000, size=200_000, now=T0 + i * 0.001)
        for i in range(300)
    ]
    admitted = outcomes.count(None)
    assert admitted == 30  # the readings burst: 60,000 / 2000
    assert budgets.refused("dw-bad") == {"budget_readings": 270}
    # Its own alarm and events, and every other dwelling, are untouched.
    assert budgets.admit_alarm("dw-bad", open_alarms=0, now=T0 + 1) is None
    assert budgets.admit("dw-bad", E, readings=0, size=500, now=T0 + 1) is None
    assert budgets.admit("dw-good", R, readings=50, size=6000, now=T0 + 1) is None
    assert budgets.refused("dw-good") == {}
    # It refills: a second later 3000 readings' worth is back.
    assert budgets.admit("dw-bad", R, readings=2000, size=200_000, now=T0 + 2) is None


def test_messages_and_bytes_each_have_their_bucket_and_a_refusal_charges_nothing() -> None:
    policy = BudgetPolicy(
        bulk_messages=Rate(1.0, 3.0), bulk_bytes=Rate(1000.0, MAX_PAYLOAD_BYTES + 1000)
    )
    budgets = DwellingBudgets(policy)
    for _ in range(3):
        assert budgets.admit("dw-001", R, readings=1, size=10, now=T0) is None
    assert budgets.admit("dw-001", R, readings=1, size=10, now=T0) == "budget_messages"
    budgets = DwellingBudgets(policy)
    assert budgets.admit("dw-001", R, readings=1, size=MAX_PAYLOAD_BYTES, now=T0) is None
    assert budgets.admit("dw-001", R, readings=1, size=2000, now=T0) == "budget_bytes"
    # The refused message took no message token: two more small ones still fit.
    assert budgets.admit("dw-001", R, readings=1, size=500, now=T0) is None
    assert budgets.admit("dw-001", R, readings=1, size=500, now=T0) is None
    assert budgets.refused("dw-001") == {"budget_bytes": 1}


def test_events_and_status_share_one_bucket_separate_from_readings() -> None:
    budgets = DwellingBudgets(BudgetPolicy(control_messages=Rate(10.0, 300.0)))
    results = [
        budgets.admit("dw-001", E if i % 2 else S, readings=0, size=100, now=T0) for i in range(301)
    ]
    assert results.count(None) == 300 and results[-1] == "budget_messages"
    assert budgets.admit("dw-001", R, readings=50, size=6000, now=T0) is None
    assert budgets.admit("dw-001", E, readings=0, size=100, now=T0 + 0.1) is None  # refilled 1


def test_alarm_raises_are_rate_limited_and_capped_by_open_alarms_cancels_are_free() -> None:
    budgets = DwellingBudgets(BudgetPolicy())
    raised = [budgets.admit_alarm("dw-001", open_alarms=0, now=T0) for _ in range(31)]
    assert raised.count(None) == 30 and raised[-1] == "budget_alarm_rate"
    assert budgets.admit_alarm("dw-001", open_alarms=0, now=T0 + 60) is None  # one a minute
    assert budgets.admit_alarm("dw-002", open_alarms=50, now=T0) == "budget_open_alarms"
    assert budgets.admit_alarm("dw-002", open_alarms=49, now=T0) is None
    # Alarm messages (a cancel, for one) draw on their own bucket only: 120 at once,
    # then 2 a second; the raise budget is not touched by them.
    got = [budgets.admit("dw-001", A, readings=0, size=300, now=T0) for _ in range(121)]
    assert got.count(None) == 120 and got[-1] == "budget_messages"
    assert budgets.admit("dw-001", A, readings=0, size=300, now=T0 + 0.5) is None
    assert budgets.admit("dw-003", R, readings=1, size=100, now=T0) is None  # others unaffected
    assert budgets.refused_all() == {
        "dw-001": {"budget_alarm_rate": 1, "budget_messages": 1},
        "dw-002": {"budget_open_alarms": 1},
    }
    assert budgets.last_refused_at("dw-001") == T0
    assert budgets.last_refused_at("dw-003") is None


def test_memory_stays_bounded_under_a_spray_of_dwelling_ids() -> None:
    budgets = DwellingBudgets(BudgetPolicy(max_dwellings=100, control_messages=Rate(1, 1)))
    for i in range(10_000):
        budgets.admit(f"dw-{i}", E, readings=0, size=10, now=T0)
        budgets.admit(f"dw-{i}", E, readings=0, size=10, now=T0)  # refused
    assert len(budgets.refused_all()) == 100  # only the most recent ones are tracked
    assert "dw-9999" in budgets.refused_all() and "dw-0" not in budgets.refused_all()


def test_a_clock_stepping_back_refills_nothing() -> None:
    budgets = DwellingBudgets(BudgetPolicy(control_messages=Rate(1.0, 1.0)))
    assert budgets.admit("dw-001", E, readings=0, size=10, now=T0) is None
    assert budgets.admit("dw-001", E, readings=0, size=10, now=T0 - 3600) == "budget_messages"
    assert budgets.admit("dw-001", E, readings=0, size=10, now=T0 + 1) is None


def test_budget_section_loads_and_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "hub.toml"
    p.write_text("[budget]\nreadings_per_s = 500\nalarm_raises_per_h = 120\nmax_open_alarms = 5\n")
    policy = load_settings(p).budget.policy()
    assert policy.bulk_readings == Rate(500.0, 60_000.0)
    assert policy.alarm_raises == Rate(120.0 / 3600.0, 30.0)
    assert policy.max_open_alarms == 5
    assert load_settings().budget.policy() == BudgetPolicy()  # the defaults agree
    # A burst smaller than one maximal batch would refuse a valid message forever.
    p.write_text("[budget]\nreadings_burst = 100\n")
    with pytest.raises(ConfigError, match="readings_burst"):
        load_settings(p)
    p.write_text("[budget]\nbytes_per_s = 0\n")
    with pytest.raises(ConfigError, match="bytes_per_s"):
        load_settings(p)
