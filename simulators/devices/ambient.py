"""Simulated ambient BTHome sensors (PIR, door contact, bed/chair mat) and a simulated
vital-signs gateway, emitting the exact bytes real ones send.

`SimulatedAmbientSensor` is a trigger-based BTHome v2 binary sensor: it advertises when
its state changes (motion 0x21, opening 0x11 or occupancy 0x23 by role) and repeats its
state in a slow keep-alive, like a Shelly BLU Motion / Door-Window. `SimulatedVitalsGateway`
writes `sensors.codecs.vitals_line` lines, as the USB gateway of the spot-check devices
does. Pure: time comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from sensors.codecs.bthome import BTHomePayload
from sensors.codecs.vitals_line import encode_line
from sensors.readings import Advertisement
from simulators.devices.pendant import _BTHomeDevice

AmbientRole = Literal["motion", "door", "bed", "chair"]

# Which gateway device measures which value (the line's informational device field).
_DEVICE_FOR: Final = {
    "sbp": "bp",
    "dbp": "bp",
    "hr": "ox",
    "spo2": "ox",
    "temperature": "th",
    "weight": "sc",
}


class SimulatedAmbientSensor(_BTHomeDevice):
    def __init__(
        self,
        device_id: str,
        address: str,
        role: AmbientRole,
        *,
        battery: int = 90,
        repeats: int = 2,
        key: bytes | None = None,
    ) -> None:
        super().__init__(device_id, address, battery=battery, repeats=repeats, key=key)
        self.role = role
        self.state = False

    def _payload(self) -> BTHomePayload:
        pid, on = self._next_id(), self.state
        return BTHomePayload(
            packet_id=pid,
            battery=self.battery,
            trigger_based=True,
            motion=on if self.role == "motion" else None,
            opening=on if self.role == "door" else None,
            occupancy=on if self.role in ("bed", "chair") else None,
        )

    def set(self, t: float, state: bool) -> list[Advertisement]:
        """The sensor's state changes at `t` (a PIR sees someone, a door opens)."""
        self.state = state
        return self._frames(self._payload(), t)

    def tick(self, t: float) -> list[Advertisement]:
        """Keep-alive: the current state and battery."""
        return self._frames(self._payload(), t)


class SimulatedVitalsGateway:
    """The serial gateway of the BP cuff, pulse oximeter, thermometer and scale."""

    def __init__(self, device_id: str) -> None:
        self.id = device_id
        self.sent = 0

    def measure(self, values: Mapping[str, float], status: int = 0) -> bytes:
        """One measurement line; `values` from one device (e.g. sbp, dbp and hr)."""
        device = _DEVICE_FOR[next(iter(values))]
        self.sent += 1
        return encode_line(device, {**values, "status": status})
