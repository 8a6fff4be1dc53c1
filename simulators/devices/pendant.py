"""Simulated BTHome v2 devices that emit the exact advertisement bytes real ones send.

`SimulatedPendant` is the alarm pendant (a trigger-based BTHome button: it advertises a
button event when pressed, plus a slow battery keep-alive); `SimulatedRoomSensor` is a
BTHome room sensor (temperature, humidity, motion) used to give a dwelling a steady
stream of readings. Both encode with `sensors.codecs.bthome`, so the agent decodes them
through the real bthome_ble parser. With a bind `key` they encrypt as BTHome v2 devices
do (AES-CCM, a frame counter that grows with every new advertisement; the repeats of one
advertisement share it). Pure: time comes in as an argument.
"""

from __future__ import annotations

import math
import random

from sensors.codecs.bthome import BTHomePayload, encode_advertisement
from sensors.readings import Advertisement, ButtonPress


class _BTHomeDevice:
    def __init__(
        self,
        device_id: str,
        address: str,
        *,
        battery: int = 90,
        repeats: int = 3,
        key: bytes | None = None,
        counter: int = 0,
    ) -> None:
        self.id = device_id
        self.key = key
        self.counter = counter  # the encryption counter of the next advertisement
        self.address = address.upper()
        self.battery = battery
        # BTHome devices send each advertisement a few times (the receiver may miss one);
        # the packet id lets the receiver drop the copies.
        self.repeats = repeats
        self.packet_id = 0
        self.sent = 0

    def _next_id(self) -> int:
        self.packet_id = (self.packet_id + 1) % 256
        return self.packet_id

    def _frames(self, payload: BTHomePayload, t: float) -> list[Advertisement]:
        adv = encode_advertisement(
            self.address, payload, t=t, rssi=-62, key=self.key, counter=self.counter
        )
        if self.key is not None:
            self.counter = (self.counter + 1) % 2**32
        self.sent += 1
        return [adv] * self.repeats


class SimulatedPendant(_BTHomeDevice):
    def press(self, t: float, press: ButtonPress = ButtonPress.PRESS) -> list[Advertisement]:
        return self._frames(
            BTHomePayload(
                packet_id=self._next_id(), battery=self.battery, button=press, trigger_based=True
            ),
            t,
        )

    def keepalive(self, t: float) -> list[Advertisement]:
        return self._frames(
            BTHomePayload(packet_id=self._next_id(), battery=self.battery, trigger_based=True), t
        )

    tick = keepalive


class SimulatedRoomSensor(_BTHomeDevice):
    """A slowly varying indoor climate with occasional motion (deterministic per seed)."""

    def __init__(
        self,
        device_id: str,
        address: str,
        *,
        battery: int = 90,
        repeats: int = 1,
        seed: int = 0,
        key: bytes | None = None,
    ) -> None:
        super().__init__(device_id, address, battery=battery, repeats=repeats, key=key)
        self._rng = random.Random(seed)  # simulation noise, not cryptography

    def tick(self, t: float) -> list[Advertisement]:
        day = (t % 86400.0) / 86400.0
        temperature = 20.5 + 1.5 * math.sin(2 * math.pi * (day - 0.3)) + self._rng.gauss(0, 0.05)
        humidity = 50.0 + 5.0 * math.cos(2 * math.pi * day) + self._rng.gauss(0, 0.3)
        return self._frames(
            BTHomePayload(
                packet_id=self._next_id(),
                battery=self.battery,
                temperature=round(temperature, 2),
                humidity=round(humidity, 2),
                motion=self._rng.random() < 0.2,
            ),
            t,
        )
