"""Frames in, wire messages out: decode, batch readings, run detectors, raise alarms.

No I/O of its own except handing finished messages to the outbox (which spools them);
time comes in as arguments. The agent calls `handle(frame)` for every driver frame and
`tick(now)` every `batch_s`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from edge.alarm_book import AlarmBook, AlarmKey
from edge.config import DeviceConfig, EdgeSettings
from edge.counter_book import CounterBook, fingerprint
from edge.detection import Detector, Finding
from edge.detectors.fall_alarm import FallAlarmConfig
from edge.fall_monitor import FALL_DETECTOR, FallMonitor
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.supervision import Supervision
from sensors import contract, plausibility
from sensors.codecs.ble_health import CHARACTERISTICS as HEALTH_CHARACTERISTICS
from sensors.codecs.ble_health import health_readings
from sensors.codecs.bthome import BTHomeDecoder
from sensors.codecs.vitals_line import decode_line as decode_vitals_line
from sensors.errors import ContractError, DecodeError, StaleCounterError
from sensors.readings import (
    Advertisement,
    ButtonEvent,
    ButtonPress,
    DecodedFrame,
    Frame,
    Notification,
    Reading,
    SerialLine,
)

log = logging.getLogger(__name__)

# A serial device's line format is the codec's business; register one per device kind.
LineDecoder = Callable[[str, SerialLine], DecodedFrame]

# Every press raises: a frightened resident may press long or twice. A hold's release
# only ends the hold that already raised.
_RAISING_PRESSES = frozenset(ButtonPress) - {ButtonPress.HOLD_RELEASE}

# The contract's bound keeps a full batch under its payload limit.
_MAX_BATCH = contract.MAX_READINGS_PER_BATCH


def _press_detail(ev: ButtonEvent) -> dict[str, float | int | bool | str | None]:
    """A button event's alarm/event detail: the press, and which button of several."""
    detail: dict[str, float | int | bool | str | None] = {"press": ev.press.value}
    if ev.index is not None:
        detail["button"] = ev.index
    return detail


@dataclass(frozen=True, slots=True)
class RaisedAlarm:
    alarm_id: str
    kind: contract.AlarmKind
    sensor: str | None
    t: float


@dataclass(slots=True)
class PipelineStats:
    frames: int = 0
    readings: int = 0
    batches: int = 0
    unknown_source: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    unusable_readings: int = 0  # health frames flagged unusable (kept from the hub)
    # Readings refused as physically implausible (sensors.plausibility), per quantity.
    implausible: Counter[str] = field(default_factory=Counter)
    replays: int = 0  # encrypted BTHome frames refused for a replayed or stale counter
    skipped_objects: int = 0  # objects of decoded frames that could not be read or used
    alarms: list[RaisedAlarm] = field(default_factory=list)
    events: int = 0


class Pipeline:
    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        health: HealthTracker,
        *,
        detectors: Sequence[Detector] = (),
        line_decoders: dict[str, LineDecoder] | None = None,
        book: AlarmBook | None = None,
        supervision: Supervision | None = None,
    ) -> None:
        """`book`: the alarm book (default: one in the outbox's spool); `supervision`:
        the sensor supervision (default: from the settings, since `health.started`)."""
        self.settings = settings
        self.dwelling = settings.dwelling
        self.outbox = outbox
        self.health = health
        self.book = book if book is not None else AlarmBook(outbox, settings.dwelling)
        self.detectors = list(detectors)
        if supervision is None:
            supervision = Supervision.from_settings(settings, health, health.started)
        self.supervision = supervision
        self.stats = PipelineStats()
        # Shipped line formats; the caller may add or replace (tests, other gateways).
        self._line_decoders: dict[str, LineDecoder] = {"vitals": decode_vitals_line}
        self._line_decoders.update(line_decoders or {})
        ble = [d for d in settings.devices if d.transport == "ble" and d.address]
        self._by_address: dict[str, DeviceConfig] = {
            d.address: d for d in ble if d.kind not in ("wearable", "gatt") and d.address
        }
        # Wearables and gatt health devices talk over their own GATT connection
        # (notifications, indications), not BTHome.
        self._wearable_by_address: dict[str, DeviceConfig] = {
            d.address: d for d in ble if d.kind in ("wearable", "gatt") and d.address
        }
        fall = settings.fall
        policy = FallAlarmConfig(
            cancel_window_s=fall.cancel_window_s,
            long_lie_s=fall.long_lie_s,
            silent_after_impact_s=fall.silent_after_impact_s,
        )
        self.fall_monitors: dict[str, FallMonitor] = {
            d.id: FallMonitor(d.id, policy, link_grace_s=fall.link_grace_s)
            for d in self._wearable_by_address.values()
            if d.kind == "wearable" and d.accelerometer
        }
        # A wearable's Bluetooth SIG health characteristics (heart rate, pulse oximetry).
        self._health_chars: dict[str, frozenset[str]] = {
            d.id: frozenset(HEALTH_CHARACTERISTICS[h] for h in d.health)
            for d in self._wearable_by_address.values()
        }
        self._by_port: dict[str, DeviceConfig] = {
            d.port: d for d in settings.devices if d.transport == "serial" and d.port
        }
        self._bthome: dict[str, BTHomeDecoder] = {}
        keyed: dict[str, str] = {}  # encrypted devices: id -> fingerprint of address and key
        for address, d in self._by_address.items():
            key = d.bind_key_bytes()
            self._bthome[d.id] = BTHomeDecoder(d.id, key=key)
            if key is not None:
                keyed[d.id] = fingerprint(address, key)
        # Encryption counters survive a restart (edge.counter_book): no replay after one.
        self.counters = CounterBook(outbox.spool, keyed)
        for device_id, decoder in self._bthome.items():
            resumed = self.counters.get(device_id)
            if resumed is not None:
                decoder.resume(resumed)
        # A GATT measurement's time stamp is the device's wall clock: the dwelling's zone.
        self._tz = ZoneInfo(settings.timezone)
        self._pending: list[contract.Reading] = []

    # -- frames ---------------------------------------------------------------------

    def handle(self, frame: Frame) -> None:
        """Decode one driver frame; a bad frame is counted, logged and dropped."""
        self.stats.frames += 1
        if isinstance(frame, Notification):
            self._notification(frame)
            return
        try:
            decoded = self._decode(frame)
        except DecodeError as exc:
            self._decode_error(exc)
            return
        if decoded is None:
            return
        decoded = self._plausible(decoded)
        self.health.seen(decoded.sensor, decoded.t, decoded.battery)
        self._add_readings(decoded.readings)
        for det in self._all_detectors():
            self._findings(det.update(decoded.readings, decoded.t), det.name)
        for button in decoded.buttons:
            self._button(button)
        if decoded.buttons:
            # A press is what a replay would fake: its counter is on disk at once.
            self.counters.save(force=True)

    def _plausible(self, decoded: DecodedFrame) -> DecodedFrame:
        """The frame without its implausible readings, which are counted and logged."""
        decoded = plausibility.screen(decoded)
        self.stats.skipped_objects += len(decoded.skipped)
        for r in decoded.rejected:
            n = self.stats.implausible[r.quantity] = self.stats.implausible[r.quantity] + 1
            if n % 1000 == 1:  # a broken sensor repeats itself: log the 1st, 1001st, ...
                log.warning(
                    "sensor %s: implausible %s (%d so far): %s",
                    r.sensor,
                    r.quantity,
                    n,
                    plausibility.problem(r.quantity, r.value),
                )
        return decoded

    def _decode_error(self, exc: DecodeError) -> None:
        if isinstance(exc, StaleCounterError):
            self.stats.replays += 1
        n = self.stats.decode_errors[exc.device_kind] = (
            self.stats.decode_errors[exc.device_kind] + 1
        )
        # A broken device can send dozens of frames a second: log the 1st, 1001st, ...
        if n % 1000 == 1:
            log.warning("dropped undecodable frame (%d so far): %s", n, exc)

    def _notification(self, frame: Notification) -> None:
        """A wearable's notification: a health characteristic's through its codec to the hub
        and the detectors; an accelerometer burst into its fall monitor, never raw to the
        hub."""
        device = self._wearable_by_address.get(frame.address.upper())
        if device is None:
            self.stats.unknown_source += 1
            return
        if frame.characteristic.lower() in self._health_chars[device.id]:
            self._health_notification(device, frame)
            return
        monitor = self.fall_monitors.get(device.id)
        if monitor is None:  # not a characteristic this device was configured with
            self.stats.unknown_source += 1
            return
        try:
            out = monitor.on_notification(frame.data, frame.t)
        except DecodeError as exc:
            self._decode_error(exc)
            return
        self.health.seen(device.id, frame.t)
        self._add_readings(out.readings)
        self._findings(out.findings, FALL_DETECTOR)
        self._findings(self.supervision.update(out.readings, frame.t), self.supervision.name)

    def _health_notification(self, device: DeviceConfig, frame: Notification) -> None:
        """Heart rate / SpO2: usable values to the hub as readings; every decoded reading,
        with the frame's `status` (non-zero: unusable), to the detectors, which decide
        whether the device is a vitals source."""
        try:
            decoded = health_readings(
                device.id, frame.characteristic.lower(), frame.data, frame.t, tz=self._tz
            )
        except DecodeError as exc:
            self._decode_error(exc)
            return
        self.health.seen(device.id, decoded.t, decoded.battery)
        status = next((r.value for r in decoded.readings if r.quantity == "status"), 0.0)
        if status == 0:
            # A clean status vouches for the values: screen them. A flagged frame's values
            # are unusable anyway (a heart rate of 0 with no skin contact): not counted.
            decoded = self._plausible(decoded)
            self._add_readings([r for r in decoded.readings if r.quantity != "status"])
        else:
            # Flagged (no skin contact, special value, device status): never a chart point;
            # the vitals detector reports it.
            self.stats.unusable_readings += 1
        for det in self._all_detectors():
            self._findings(det.update(decoded.readings, decoded.t), det.name)

    def _decode(self, frame: Frame) -> DecodedFrame | None:
        if isinstance(frame, Notification):  # handled before decoding (see handle)
            return None
        if isinstance(frame, Advertisement):
            device = self._by_address.get(frame.address.upper())
            if device is None:
                self.stats.unknown_source += 1  # a neighbour's sensor: not ours, ignore
                return None
            bthome = self._bthome[device.id]
            try:
                decoded = bthome.decode(frame)
            except StaleCounterError:
                self.health.refused(device.id, frame.t)  # supervision: frames_refused
                raise
            self.counters.note(device.id, bthome.last_counter)
            if decoded is None:
                self.stats.duplicates += 1
            return decoded
        device = self._by_port.get(frame.port)
        if device is None:
            self.stats.unknown_source += 1
            return None
        decoder = self._line_decoders.get(device.kind)
        if decoder is None:
            raise DecodeError(device.kind, f"no line decoder registered for kind {device.kind!r}")
        return decoder(device.id, frame)

    def _add_readings(self, readings: Sequence[Reading]) -> None:
        for r in readings:
            if r.t < 0 or not math.isfinite(r.value):  # the wire contract refuses them
                self.stats.decode_errors["non_finite"] += 1
                continue
            if not plausibility.plausible(r):  # the last gate (frames are screened before)
                self.stats.implausible[r.quantity] += 1
                continue
            self._pending.append(
                contract.Reading(sensor=r.sensor, quantity=r.quantity, t=r.t, value=r.value)
            )
        self.stats.readings += len(readings)

    # -- alarms and events ------------------------------------------------------------

    def _button(self, ev: ButtonEvent) -> None:
        device = next((d for d in self.settings.devices if d.id == ev.sensor), None)
        is_pendant = device is not None and device.kind == "pendant"
        if is_pendant and ev.press is ButtonPress.LONG_PRESS:
            # "Ik ben oke": a long press while a fall is pending or raised cancels it and
            # raises nothing. Any other press still means "help" (docs/edge.md, falls).
            incidents = [m for m in self.fall_monitors.values() if m.in_incident]
            # Fall alarms still open, also those a previous run of the agent raised.
            raised = self.book.open_alarms(FALL_DETECTOR)
            if incidents or raised:
                log.info("pendant %s: long press -> fall cancelled by the resident", ev.sensor)
                self._event("button", ev.t, ev.sensor, _press_detail(ev))
                for monitor in incidents:
                    self._findings(monitor.cancel_pressed(ev.t), FALL_DETECTOR)
                detail: dict[str, float | int | bool | str | None] = {
                    "reason": "button",
                    "after_alarm": True,
                }
                for e in raised:  # those the monitors' incidents did not cover
                    kind = (
                        "fall_cancelled"
                        if e.kind is contract.AlarmKind.FALL
                        else "long_lie_cancelled"
                    )
                    self._condition(e.key, kind, ev.t, detail, on=False)
                return
        if is_pendant and ev.press in _RAISING_PRESSES:
            log.info("pendant %s: %s -> personal alarm", ev.sensor, ev.press.value)
            self.raise_alarm(
                contract.AlarmKind.PERSONAL,
                contract.Severity.HIGH,
                t=ev.t,
                sensor=ev.sensor,
                detail=_press_detail(ev),
            )
        else:
            self._event("button", ev.t, ev.sensor, _press_detail(ev))

    def raise_alarm(
        self,
        kind: contract.AlarmKind,
        severity: contract.Severity,
        *,
        t: float,
        sensor: str | None = None,
        detail: dict[str, float | int | bool | str | None] | None = None,
    ) -> str:
        """A one-off alarm (the pendant's press: every press is a new alarm, and nothing
        at the edge cancels it, so it is not a condition of the alarm book)."""
        aid = contract.new_id()
        msg = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling=self.dwelling,
            ts=t,
            action="raise",
            alarm_id=aid,
            kind=kind,
            severity=severity,
            sensor=sensor,
            detail=detail or {},
        )
        # Spooled (fsynced) before anything tries to publish it.
        self.outbox.put(msg)
        self.stats.alarms.append(RaisedAlarm(aid, kind, sensor, t))
        return aid

    def _event(
        self,
        kind: str,
        t: float,
        sensor: str | None,
        detail: dict[str, float | int | bool | str | None],
    ) -> None:
        self.outbox.put(self._event_message(kind, t, sensor, detail))
        self.stats.events += 1

    def _event_message(
        self,
        kind: str,
        t: float,
        sensor: str | None,
        detail: dict[str, float | int | bool | str | None],
    ) -> contract.Event:
        return contract.Event(
            id=contract.new_id(),
            dwelling=self.dwelling,
            ts=t,
            kind=kind,
            sensor=sensor,
            detail=detail,
        )

    def _findings(self, findings: Sequence[Finding], detector: str) -> None:
        """Events out; alarm conditions through the alarm book, and their events when
        the book acted (a repeated level is not news)."""
        for f in findings:
            if f.alarm is None:
                self._event(f.kind, f.t, f.sensor, dict(f.detail))
                continue
            key = AlarmKey(detector, f.condition, f.sensor)
            self._condition(
                key, f.kind, f.t, dict(f.detail), on=f.on, alarm=f.alarm, severity=f.severity
            )

    def _condition(
        self,
        key: AlarmKey,
        event: str,
        t: float,
        detail: dict[str, float | int | bool | str | None],
        *,
        on: bool,
        alarm: contract.AlarmKind = contract.AlarmKind.TECHNICAL,
        severity: contract.Severity = contract.Severity.LOW,
    ) -> None:
        msg = self._event_message(event, t, key.sensor, detail)
        if on:
            sent = self.book.on(key, alarm, severity, t, detail, event=msg)
        else:
            sent = self.book.off(key, t, detail, event=msg)
        if not sent:
            return
        log.info("%s: %s (%s)", key.detector, event, key.sensor or "-")
        self.stats.events += 1
        for m in sent:
            if m.action == "raise":
                self.stats.alarms.append(RaisedAlarm(m.alarm_id, m.kind, m.sensor, t))

    def _all_detectors(self) -> list[Detector]:
        return [*self.detectors, self.supervision]

    # -- time -------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Every `batch_s`: ship the pending readings, advance detectors, watch silence."""
        self.flush_batch(now)
        self.counters.save()
        for det in self._all_detectors():
            self._findings(det.advance(now), det.name)
        for monitor in self.fall_monitors.values():
            self._findings(monitor.advance(now), FALL_DETECTOR)

    def flush_batch(self, now: float) -> None:
        pending, self._pending = self._pending, []
        step = _MAX_BATCH
        for i in range(0, len(pending), step):
            self._put_batch(pending[i : i + step], now)

    def _put_batch(self, readings: list[contract.Reading], now: float) -> None:
        batch = contract.ReadingsBatch(
            id=contract.new_id(), dwelling=self.dwelling, ts=now, readings=readings
        )
        try:
            self.outbox.put(batch)
        except ContractError as exc:
            # Long sensor ids can push a full batch past the payload limit: halve it.
            if exc.reason != "too_large" or len(readings) < 2:
                raise
            half = len(readings) // 2
            self._put_batch(readings[:half], now)
            self._put_batch(readings[half:], now)
            return
        self.stats.batches += 1
