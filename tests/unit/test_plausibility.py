"""Physical plausibility at the boundary: impossible values never become readings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.contract import QUANTITY_RANGES, quantity_base
from sensors.plausibility import PLAUSIBLE_RANGES, plausible, problem, range_of, screen
from sensors.readings import DecodedFrame, Reading

T = 1_700_000_000.0


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("battery", 167.0),  # the examples
        ("humidity", 130.0),
        ("spo2", -0.0007),
        ("hr", 0.0),
        ("hr", 301.0),
        ("temp", 24.9),
        ("temp", 45.1),
        ("temperature", -273.0),
        ("weight", 0.0),  # nobody on the scale
        ("motion", 0.5),  # a binary sensor is 0 or 1
        ("temperature_2", 400.0),  # a second thermometer has the first's range
        ("temperature", math.inf),
        ("nonsense", 1.0),  # a quantity nobody knows
    ],
)
def test_impossible_values_are_refused_with_a_reason(quantity: str, value: float) -> None:
    why = problem(quantity, value)
    assert why is not None and quantity in why


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("battery", 0.0),
        ("battery", 100.0),
        ("spo2", 50.0),
        ("hr", 20.0),
        ("temp", 37.2),
        ("temperature", -12.5),  # an outdoor sensor in winter
        ("weight", 33.96),
        ("door", 1.0),
        ("temperature_3", 21.0),
        ("activity", 1.5),  # known to the contract only: its range
        ("spo2", math.nan),  # a special value: the codec flags it in `status`
    ],
)
def test_possible_values_pass(quantity: str, value: float) -> None:
    assert problem(quantity, value) is None


def test_every_range_is_within_the_wire_contract() -> None:
    # What the edge lets through, the hub accepts; every quantity the hub knows has a range.
    for q, (lo, hi) in PLAUSIBLE_RANGES.items():
        clo, chi = QUANTITY_RANGES[q]
        assert clo <= lo < hi <= chi, q
    assert all(range_of(q) is not None for q in QUANTITY_RANGES)


def test_instances() -> None:
    assert quantity_base("temperature_2") == ("temperature", 2)
    assert quantity_base("temperature") == ("temperature", 1)
    assert quantity_base("temperature_1") == ("temperature_1", 1)  # the first has no suffix
    assert quantity_base("temperature_02") == ("temperature_02", 1)
    assert quantity_base("nonsense_2") == ("nonsense_2", 1)


def test_screen_moves_the_bad_and_clears_a_bad_battery() -> None:
    good = Reading("s1", "humidity", T, 50.0)
    bad = Reading("s1", "battery", T, 167.0)
    frame = DecodedFrame("s1", T, readings=(good, bad), battery=167.0)
    out = screen(frame)
    assert out.readings == (good,) and out.rejected == (bad,) and out.battery is None
    assert screen(out) == out  # idempotent
    clean = DecodedFrame("s1", T, readings=(good,), battery=80.0)
    assert screen(clean) is clean
    # A battery the frame reports without a reading is still recorded as refused.
    only_field = screen(DecodedFrame("s1", T, battery=-3.0))
    assert only_field.battery is None and only_field.rejected == (
        Reading("s1", "battery", T, -3.0),
    )


@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(QUANTITY_RANGES)), st.floats(allow_nan=False)),
        max_size=10,
    )
)
def test_screen_never_lets_an_implausible_reading_through(pairs: list[tuple[str, float]]) -> None:
    frame = DecodedFrame("s1", T, readings=tuple(Reading("s1", q, T, v) for q, v in pairs))
    out = screen(frame)
    assert all(plausible(r) for r in out.readings)
    assert not any(plausible(r) for r in out.rejected)
    assert len(out.readings) + len(out.rejected) == len(pairs)
