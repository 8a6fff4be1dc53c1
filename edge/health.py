"""Per-device health for the status message: ok, silent (no frame for `silence_s`), failed.

Going silent and coming back are sensor supervision's (`edge.supervision`), which reads
the last-seen times and battery levels kept here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sensors.contract import SensorHealth

State = Literal["ok", "silent", "failed", "starting"]


@dataclass(slots=True)
class _Device:
    id: str
    kind: str
    silence_s: float
    last_seen: float | None = None
    battery: float | None = None
    failed: bool = False
    refused: float | None = None  # an authentic frame last refused for its counter, s


class HealthTracker:
    """Pure: times come in as arguments."""

    def __init__(self, devices: Iterable[tuple[str, str, float]], started: float) -> None:
        self._devices = {d: _Device(d, k, s) for d, k, s in devices}
        self._started = started

    @property
    def started(self) -> float:
        """The agent's start: a device never heard of is silent from then on."""
        return self._started

    def seen(self, sensor: str, t: float, battery: float | None = None) -> None:
        dev = self._devices.get(sensor)
        if dev is None:
            return
        dev.last_seen = t if dev.last_seen is None else max(dev.last_seen, t)
        dev.failed = False  # a frame proves the transport works again
        if battery is not None:
            dev.battery = battery

    def refused(self, sensor: str, t: float) -> None:
        """An authentic frame of `sensor` refused for a replayed or stale counter: not a
        sign of life (it may be someone else's recording), but a thing to look into."""
        dev = self._devices.get(sensor)
        if dev is not None:
            dev.refused = t if dev.refused is None else max(dev.refused, t)

    def last_refused(self, sensor: str) -> float | None:
        dev = self._devices.get(sensor)
        return None if dev is None else dev.refused

    def last_seen(self, sensor: str) -> float | None:
        """When a frame of `sensor` was last seen (None: not yet, or not configured)."""
        dev = self._devices.get(sensor)
        return None if dev is None else dev.last_seen

    def battery(self, sensor: str) -> float | None:
        """The last battery level `sensor` reported, percent (None: none yet)."""
        dev = self._devices.get(sensor)
        return None if dev is None else dev.battery

    def set_failed(self, sensors: Iterable[str], failed: bool) -> None:
        for s in sensors:
            if s in self._devices:
                self._devices[s].failed = failed

    def state(self, sensor: str, now: float) -> State:
        dev = self._devices[sensor]
        if dev.failed:
            return "failed"
        ref = dev.last_seen if dev.last_seen is not None else self._started
        if now - ref > dev.silence_s:
            return "silent"
        return "ok" if dev.last_seen is not None else "starting"

    def snapshot(self, now: float) -> Sequence[SensorHealth]:
        return [
            SensorHealth(
                sensor=d.id,
                kind=d.kind,
                state=self.state(d.id, now),
                last_seen=d.last_seen,
                battery=d.battery,
            )
            for d in self._devices.values()
        ]
