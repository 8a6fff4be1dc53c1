"""Physical plausibility of readings, checked where readings are made (pure).

Every reading type has the range a real value can take for a resident or a room; a value
outside it is a device fault (a battery of 167 %, a humidity of 130 %, an SpO2 of
-0.0007 from a mis-decoded SFLOAT), never a measurement. `screen` moves such readings out
of a `DecodedFrame` into its `rejected` tuple, so the edge counts and logs them with the
sensor id and neither scores (detectors) nor stores (hub) them.

The ranges here are at least as tight as the wire contract's (`sensors.contract.
QUANTITY_RANGES`, which the hub applies again); a quantity without an entry here falls back
to the contract's range, and a quantity known to neither is rejected. A repeated instance
of a quantity in one frame (`temperature_2`, see `instance_base`) has its base's range.

NaN is left alone: it is how a codec says "the device sent a special value" (SFLOAT NaN,
NRes), which goes with a non-zero frame `status` and is never stored as a number anyway.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

from sensors.contract import QUANTITY_RANGES, quantity_base
from sensors.readings import DecodedFrame, Reading

# Inclusive (low, high) per quantity, in the units of `sensors.readings` (SI-ish: degC,
# kg, %, lux, V, beats or breaths per minute, mmHg).
PLAUSIBLE_RANGES: Final[dict[str, tuple[float, float]]] = {
    # BTHome and room sensors
    "battery": (0.0, 100.0),  # %
    "temperature": (-40.0, 85.0),  # degC: room, fridge or outdoor air (sensor spec range)
    "humidity": (0.0, 100.0),  # % relative humidity
    "illuminance": (0.0, 200_000.0),  # lux; direct sunlight ~120 000
    "weight": (2.0, 350.0),  # kg: a person on a scale (0 kg is "stepped off", no reading)
    "voltage": (0.0, 400.0),  # V: a battery's or the mains'
    "moisture": (0.0, 100.0),  # % (soil/material moisture)
    "tilt": (-360.0, 360.0),  # degrees (BTHome rotation: a window's tilt)
    # binary sensors: 0 or 1
    "motion": (0.0, 1.0),
    "opening": (0.0, 1.0),
    "door": (0.0, 1.0),
    "window": (0.0, 1.0),
    "occupancy": (0.0, 1.0),
    "presence": (0.0, 1.0),
    "vibration": (0.0, 1.0),
    "wet": (0.0, 1.0),  # BTHome binary moisture: a leak or bed-wetting pad
    # vital signs
    "hr": (20.0, 300.0),  # beats/min
    "spo2": (50.0, 100.0),  # %
    "temp": (25.0, 45.0),  # degC, body
    "sbp": (40.0, 300.0),  # mmHg
    "dbp": (20.0, 250.0),  # mmHg
    "rr": (2.0, 80.0),  # breaths/min
    "o2": (0.0, 1.0),
    "acvpu": (0.0, 4.0),
}

# The unit of each quantity, for people reading decoded values (`mz decode`, docs).
UNITS: Final[dict[str, str]] = {
    "battery": "%",
    "temperature": "degC",
    "humidity": "%",
    "illuminance": "lx",
    "weight": "kg",
    "voltage": "V",
    "moisture": "%",
    "tilt": "deg",
    "hr": "1/min",
    "spo2": "%",
    "temp": "degC",
    "sbp": "mmHg",
    "dbp": "mmHg",
    "rr": "1/min",
    "status": "bits",
    "activity": "g",
}

_BINARY: Final = frozenset(q for q, (lo, hi) in PLAUSIBLE_RANGES.items() if (lo, hi) == (0, 1))


def instance_base(quantity: str) -> tuple[str, int]:
    """`temperature_2` -> ("temperature", 2): see `sensors.contract.quantity_base`."""
    return quantity_base(quantity)


def range_of(quantity: str) -> tuple[float, float] | None:
    """The plausible range of `quantity` (None: not a quantity anybody knows)."""
    base = quantity_base(quantity)[0]
    return PLAUSIBLE_RANGES.get(base) or QUANTITY_RANGES.get(base)


def problem(quantity: str, value: float) -> str | None:
    """Why `value` is not a plausible `quantity` (None: it is)."""
    if math.isnan(value):
        return None  # a special value, flagged by the codec's status (see module doc)
    rng = range_of(quantity)
    if rng is None:
        return f"unknown quantity {quantity!r}"
    lo, hi = rng
    if not lo <= value <= hi:
        return f"{quantity} {value:g} outside {lo:g}..{hi:g}"
    if instance_base(quantity)[0] in _BINARY and value not in (0.0, 1.0):
        return f"{quantity} {value:g} is not 0 or 1"
    return None


def plausible(reading: Reading) -> bool:
    return problem(reading.quantity, reading.value) is None


def screen(frame: DecodedFrame) -> DecodedFrame:
    """`frame` with its implausible readings moved to `rejected` (and an implausible
    `battery` cleared). Idempotent; returns `frame` itself when nothing is wrong."""
    bad = [r for r in frame.readings if not plausible(r)]
    battery = frame.battery
    battery_bad = battery is not None and problem("battery", battery) is not None
    if not bad and not battery_bad:
        return frame
    if battery_bad and not any(r.quantity == "battery" for r in bad):
        assert battery is not None
        bad.append(Reading(frame.sensor, "battery", frame.t, battery))
    return dataclasses.replace(
        frame,
        readings=tuple(r for r in frame.readings if plausible(r)),
        rejected=frame.rejected + tuple(bad),
        battery=None if battery_bad else battery,
    )
