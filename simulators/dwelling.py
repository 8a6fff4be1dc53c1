"""A whole simulated dwelling: the REAL edge agent, simulated devices, a cuttable network.

    settings = dwelling_settings(scenario, dwelling="dw-001", password="pw-dw-001",
                                 broker_url="mqtt://127.0.0.1:1883", spool_path=spool)
    dw = SimulatedDwelling(settings, scenario)
    task = asyncio.create_task(dw.run())     # returns after scenario.duration_s or stop()
    await dw.started.wait(); dw.state.alarms_raised; dw.press("pendant-1"); dw.network_down()
    dw.stop(); await task

The devices emit real BTHome v2 bytes into `SimulatedRadio`, which implements the same
`Driver` protocol as the BLE scanner, so everything from the BTHome decoder onwards is
the production code path. A wearable streams real accelerometer notification bytes
(dataset recordings on cue, idle wear in between) through its own `SimulatedGattLink`,
which stands in for `edge.drivers.gatt.GattWearable` the same way (so does a health
band's, notifying Bluetooth SIG heart-rate and pulse-oximetry bytes, and a gatt health
device's - cuff, thermometer, scale, spot-check oximeter - indicating its measurement
bytes when the scenario measures); ambient BTHome
sensors and a serial vitals gateway (`SimulatedSerialPort`) can be driven by the
scenario or by a simulated resident (`simulators.resident_sim`). The agent reaches the
broker through a `TcpProxy` that the scenario can cut. Several dwellings can run in one
process (the demo does).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.app import AgentState, EdgeAgent
from edge.config import DeviceConfig, EdgeSettings
from edge.detectors.vitals import Quantity
from edge.drivers import Emit
from edge.drivers.gatt import ACCEL_CHARACTERISTIC
from edge.errors import DriverError
from sensors.readings import Advertisement, ButtonPress, Notification, SerialLine
from simulators.datasets import dataset_path, select_recording
from simulators.devices.ambient import SimulatedAmbientSensor, SimulatedVitalsGateway
from simulators.devices.gatt_health import SimulatedSpotCheckDevice
from simulators.devices.health_band import HEALTH_CHARACTERISTICS, SimulatedHealthBand
from simulators.devices.pendant import SimulatedPendant, SimulatedRoomSensor
from simulators.devices.wearable import ReplayRecording
from simulators.devices.wearable_stream import StreamingWearable
from simulators.netem import Mode, TcpProxy
from simulators.residents.vitals import ContinuousVitals, Drift, VitalsParams
from simulators.scenario import ReplaySpec, Scenario, ScenarioError, SimDevice, SimEvent

log = logging.getLogger(__name__)

_FAIL = object()


class SimulatedRadio:
    """Stands in for `edge.drivers.ble.BleScanner`: frames come from simulated devices."""

    def __init__(self, sensors: tuple[str, ...]) -> None:
        self._sensors = sensors
        self._queue: asyncio.Queue[Advertisement | object] = asyncio.Queue()
        self.running = False
        self.lost = 0  # advertisements sent while the radio was down

    @property
    def name(self) -> str:
        return "ble"

    @property
    def sensors(self) -> tuple[str, ...]:
        return self._sensors

    def transmit(self, advs: list[Advertisement]) -> None:
        if not self.running:
            self.lost += len(advs)  # nobody is listening: gone, as on a real radio
            return
        for adv in advs:
            self._queue.put_nowait(adv)

    def fail(self) -> None:
        """Make the running driver fail (the agent's supervisor must restart it)."""
        self._queue.put_nowait(_FAIL)

    async def run(self, emit: Emit) -> None:
        self.running = True
        try:
            while True:
                item = await self._queue.get()
                if item is _FAIL:
                    raise DriverError(self.name, "simulated radio failure")
                assert isinstance(item, Advertisement)
                emit(item)
        finally:
            self.running = False


class SimulatedGattLink:
    """Stands in for `edge.drivers.gatt.GattWearable`: one wearable's notifications."""

    def __init__(self, sensor: str, address: str) -> None:
        self._sensor = sensor
        self.address = address.upper()
        self._queue: asyncio.Queue[Notification | object] = asyncio.Queue()
        self.connected = False
        self.lost = 0  # notifications sent while not connected

    @property
    def name(self) -> str:
        return f"gatt:{self.address}"

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self._sensor,)

    def notify(
        self, frames: list[bytes], t: float, characteristic: str = ACCEL_CHARACTERISTIC
    ) -> None:
        if not self.connected:
            self.lost += len(frames)
            return
        for data in frames:
            self._queue.put_nowait(Notification(self.address, characteristic, data, t))

    def disconnect(self) -> None:
        """The link drops (out of range): the running driver fails and is reconnected."""
        self._queue.put_nowait(_FAIL)

    async def run(self, emit: Emit) -> None:
        self.connected = True
        try:
            while True:
                item = await self._queue.get()
                if item is _FAIL:
                    raise DriverError(self.name, "simulated wearable disconnected")
                assert isinstance(item, Notification)
                emit(item)
        finally:
            self.connected = False


# A spot-check gateway is heard of once or twice a day: not "silent" after minutes.
_VITALS_SILENCE_S = 36 * 3600.0


def _device_config(d: SimDevice) -> dict[str, Any]:
    """The agent's device entry for a simulated device."""
    if d.kind == "vitals":
        return {
            "id": d.id,
            "kind": "vitals",
            "transport": "serial",
            "port": f"sim://{d.id}",
            "silence_s": _VITALS_SILENCE_S,
        }
    out: dict[str, Any] = {"id": d.id, "transport": "ble", "address": d.mac}
    if d.bind_key is not None:
        out["bind_key"] = d.bind_key.hex()
    if d.kind == "health_band":
        # A wearable without our accelerometer: its heart rate and SpO2 go to NEWS2.
        return out | {
            "kind": "wearable",
            "accelerometer": False,
            "health": list(d.health or HEALTH_CHARACTERISTICS),
            "role": "vitals",
        }
    if d.kind == "ambient":
        return out | {"kind": "bthome", "role": d.role, "room": d.room}
    if d.kind == "gatt":
        assert d.measures is not None
        return out | {"kind": "gatt", "health": [d.measures, "battery"]}
    return out | {"kind": d.kind} | ({"mount": d.mount} if d.mount else {})


class SimulatedSerialPort:
    """Stands in for `edge.drivers.serial.SerialLineDriver`: lines from a simulated device."""

    def __init__(self, sensor: str, port: str) -> None:
        self._sensor = sensor
        self.port = port
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    @property
    def name(self) -> str:
        return f"serial:{self.port}"

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self._sensor,)

    def write(self, line: bytes) -> None:
        self._queue.put_nowait(line)

    async def run(self, emit: Emit) -> None:
        while True:
            line = await self._queue.get()
            emit(SerialLine(self.port, line, time.time()))


def _health_band(d: SimDevice, start: float) -> SimulatedHealthBand:
    """A scenario's health band, its signal's drifts counted from `start`."""
    sig = d.signal
    params = VitalsParams()
    if sig is not None:
        drifts = tuple(
            Drift(Quantity(x.quantity), x.per_day, x.from_day, x.to_day) for x in sig.drifts
        )
        params = VitalsParams(hr_rest=sig.hr_rest, spo2=sig.spo2, drifts=drifts)
    seed = sig.seed if sig is not None else 0
    signal = ContinuousVitals(start, seed=seed, params=params)
    return SimulatedHealthBand(d.id, d.mac, signal, health=d.health or HEALTH_CHARACTERISTICS)


def dwelling_settings(
    scenario: Scenario,
    *,
    dwelling: str,
    password: str,
    broker_url: str,
    spool_path: Path,
    **overrides: Any,
) -> EdgeSettings:
    """Agent settings for `scenario`: its devices, its [agent] overrides, then `overrides`."""
    from edge.config import load_settings

    values: dict[str, Any] = {
        "dwelling": dwelling,
        "password": password,
        "broker_url": broker_url,
        "spool": {"path": str(spool_path)},
        "devices": [_device_config(d) for d in scenario.devices],
        **scenario.agent,
        **overrides,
    }
    return load_settings(None, **values)


@dataclass(frozen=True, slots=True)
class Happened:
    t: float  # scenario seconds
    action: str
    device: str | None


class SimulatedDwelling:
    def __init__(
        self,
        config: EdgeSettings,
        scenario: Scenario,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        ble: dict[str, DeviceConfig] = {d.id: d for d in config.devices if d.transport == "ble"}
        for d in scenario.devices:
            if d.kind == "vitals":
                continue  # a serial device
            if d.id not in ble or ble[d.id].address != d.mac:
                raise ScenarioError(
                    scenario.name, f"device {d.id} ({d.mac}) is not in the agent's BLE devices"
                )
        self.config = config
        self.scenario = scenario
        self.clock = clock
        self.radio = SimulatedRadio(
            tuple(
                d.id
                for d in scenario.devices
                if d.kind not in ("wearable", "vitals", "health_band", "gatt")
            )
        )
        self.devices: dict[
            str, SimulatedPendant | SimulatedRoomSensor | SimulatedAmbientSensor
        ] = {}
        self.gateways: dict[str, SimulatedVitalsGateway] = {}
        self.ports: dict[str, SimulatedSerialPort] = {}
        self.wearables: dict[str, StreamingWearable] = {}
        self.links: dict[str, SimulatedGattLink] = {}
        self.bands: dict[str, SimulatedHealthBand] = {}
        self.spot: dict[str, SimulatedSpotCheckDevice] = {}
        self._tz = ZoneInfo(config.timezone)
        self._datasets: dict[str, Path | None] = {}
        self._recordings: dict[tuple[str, ReplaySpec], ReplayRecording] = {}
        for i, d in enumerate(scenario.devices):
            if d.kind == "wearable":
                self.wearables[d.id] = StreamingWearable(d.id, d.mac, seed=i)
                self.links[d.id] = SimulatedGattLink(d.id, d.mac)
                self._datasets[d.id] = self._find_dataset(d)
            elif d.kind == "health_band":
                self.bands[d.id] = _health_band(d, clock())
                self.links[d.id] = SimulatedGattLink(d.id, d.mac)
            elif d.kind == "gatt":
                assert d.measures is not None
                self.spot[d.id] = SimulatedSpotCheckDevice(
                    d.id,
                    d.mac,
                    d.measures,
                    kpa=d.units == "kpa",
                    fahrenheit=d.units == "fahrenheit",
                    imperial=d.units == "lb",
                    battery=d.battery,
                )
                self.links[d.id] = SimulatedGattLink(d.id, d.mac)
            elif d.kind == "vitals":
                self.gateways[d.id] = SimulatedVitalsGateway(d.id)
                self.ports[d.id] = SimulatedSerialPort(d.id, f"sim://{d.id}")
            elif d.kind == "ambient":
                assert d.role is not None
                self.devices[d.id] = SimulatedAmbientSensor(
                    d.id, d.mac, d.role, battery=d.battery, repeats=d.repeats, key=d.bind_key
                )
            elif d.kind == "pendant":
                self.devices[d.id] = SimulatedPendant(
                    d.id, d.mac, battery=d.battery, repeats=d.repeats, key=d.bind_key
                )
            else:
                self.devices[d.id] = SimulatedRoomSensor(
                    d.id, d.mac, battery=d.battery, repeats=d.repeats, seed=i, key=d.bind_key
                )
        self._interval = {d.id: d.interval_s / scenario.speed for d in scenario.devices}
        self._silenced: set[str] = set()
        self.proxy = TcpProxy(config.host, config.port)
        self.agent: EdgeAgent | None = None
        self.started = asyncio.Event()
        self.happened: list[Happened] = []
        self._stop = asyncio.Event()
        self._t0 = 0.0

    @property
    def dwelling(self) -> str:
        return self.config.dwelling

    @property
    def state(self) -> AgentState:
        if self.agent is None:
            raise RuntimeError("the dwelling is not running")
        return self.agent.state

    def scenario_time(self) -> float:
        return (time.monotonic() - self._t0) * self.scenario.speed

    # -- actions (the timeline calls these; tests and the demo may too) --------------

    def press(self, device: str, press: ButtonPress = ButtonPress.PRESS) -> None:
        pendant = self.devices[device]
        if not isinstance(pendant, SimulatedPendant):
            raise ValueError(f"{device} has no button")
        self.radio.transmit(pendant.press(self.clock(), press))

    def replay(self, device: str, spec: ReplaySpec) -> bool:
        """Start a dataset recording on `device` now; False when it cannot (logged)."""
        rec = self._recordings.get((device, spec))
        if rec is None:
            if self._datasets[device] is not None:
                rec = self._load(device, spec)  # not in the scenario: load it now (blocks)
            if rec is None:
                log.warning("%s: %s has no recording to replay: skipped", self.dwelling, device)
                return False
        log.info(
            "%s: %s replays %s %s (%s, %.0f s)",
            self.dwelling,
            device,
            rec.code,
            rec.subject,
            rec.activity or "no description",
            float(rec.t[-1]) if rec.t.size else 0.0,
        )
        self.wearables[device].play(rec, self.clock())
        return True

    def _load(self, device: str, spec: ReplaySpec) -> ReplayRecording | None:
        path = self._datasets[device]
        if path is None:
            return None
        try:
            return select_recording(
                path,
                code=spec.code,
                subject=spec.subject,
                trial=spec.trial,
                label=spec.label,
                index=spec.index,
                start_s=spec.start_s,
            )
        except (LookupError, OSError, ValueError) as exc:
            log.error("%s: %s cannot replay %s: %s", self.dwelling, device, spec, exc)
            return None

    def _preload(self) -> dict[tuple[str, ReplaySpec], ReplayRecording]:
        """Every recording the scenario plays, read before the run (a 36 MB .npz takes a
        second to decompress: not something to do on the event loop mid-scenario)."""
        wanted: list[tuple[str | None, ReplaySpec | None]] = [
            (d.id, d.replay) for d in self.scenario.devices if d.replay is not None
        ]
        wanted += [(e.device, e.replay) for e in self.scenario.events if e.replay is not None]
        out: dict[tuple[str, ReplaySpec], ReplayRecording] = {}
        for device, spec in wanted:
            assert device is not None and spec is not None
            rec = self._load(device, spec)
            if rec is not None:
                out[(device, spec)] = rec
        return out

    def _find_dataset(self, d: SimDevice) -> Path | None:
        path = dataset_path(d.dataset)
        if not path.is_file():
            # The demo must run without the (unshipped) dataset: the wearable streams idle.
            log.warning(
                "%s: dataset %s not found (set MZ_DATASETS to its folder): %s streams idle,"
                " no recorded falls or activities will play",
                self.dwelling,
                path,
                d.id,
            )
            return None
        return path

    def set_sensor(self, device: str, on: bool) -> None:
        """An ambient sensor's state changes now (someone moves, a door opens)."""
        sensor = self.devices[device]
        if not isinstance(sensor, SimulatedAmbientSensor):
            raise ValueError(f"{device} is not an ambient sensor")
        if device not in self._silenced:
            self.radio.transmit(sensor.set(self.clock(), on))

    def measure(
        self,
        device: str,
        values: dict[str, float],
        status: int = 0,
        problems: Collection[str] = (),
    ) -> None:
        """One spot check now: through a vitals gateway, or indicated by a gatt device
        (time-stamped with its wall clock in the dwelling's zone; `problems` what it
        reports as wrong)."""
        if device in self._silenced:
            return
        spot = self.spot.get(device)
        if spot is None:
            self.ports[device].write(self.gateways[device].measure(values, status))
            return
        now = self.clock()
        when = dt.datetime.fromtimestamp(now, self._tz).replace(tzinfo=None)
        for characteristic, data in spot.measure(values, when, problems):
            self.links[device].notify([data], now, characteristic)

    def set_vitals(self, device: str, values: dict[str, float]) -> None:
        """What a health band sees from now on: `hr` / `spo2` levels, `worn` (0 or 1)."""
        worn = values.get("worn")
        self.bands[device].set(
            hr=values.get("hr"), spo2=values.get("spo2"), worn=None if worn is None else worn >= 0.5
        )

    def stop_device(self, device: str) -> None:
        self._silenced.add(device)

    def start_device(self, device: str) -> None:
        self._silenced.discard(device)

    def network_down(self, mode: Mode = "blackhole") -> None:
        self.proxy.cut(mode)

    def network_up(self) -> None:
        self.proxy.restore()

    def stop(self) -> None:
        self._stop.set()

    # -- running ----------------------------------------------------------------------

    async def run(self) -> None:
        if self.wearables:
            self._recordings = await asyncio.to_thread(self._preload)
        resident: list[tuple[float, Callable[[], None]]] = []
        if self.scenario.resident is not None:
            resident = await asyncio.to_thread(self._resident_plan, self.clock())
        await self.proxy.start()
        self.agent = EdgeAgent(
            self.config,
            drivers=[self.radio, *self.links.values(), *self.ports.values()],
            broker_host=self.proxy.listen_host,
            broker_port=self.proxy.port,
            clock=self.clock,
        )
        self._t0 = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tg:
                agent_task = tg.create_task(self.agent.run(), name=f"agent:{self.dwelling}")
                others = [
                    tg.create_task(self._device_loop(dev_id), name=f"device:{dev_id}")
                    for dev_id in self.devices
                ]
                others.extend(
                    tg.create_task(self._wearable_loop(dev_id), name=f"wearable:{dev_id}")
                    for dev_id in self.wearables
                )
                others.extend(
                    tg.create_task(self._band_loop(dev_id), name=f"band:{dev_id}")
                    for dev_id in self.bands
                )
                others.append(tg.create_task(self._timeline(), name="timeline"))
                if resident:
                    others.append(tg.create_task(self._play(resident), name="resident"))
                self.started.set()
                ends = [asyncio.ensure_future(self._stop.wait()), agent_task]
                if self.scenario.duration_s is not None:
                    ends.append(
                        asyncio.ensure_future(
                            asyncio.sleep(self.scenario.duration_s / self.scenario.speed)
                        )
                    )
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
                for fut in ends[2:] + ends[:1]:
                    fut.cancel()
                for t in others:
                    t.cancel()
                # The network comes back for the shutdown flush, as on a real stop.
                self.proxy.restore()
                self.agent.stop()
        finally:
            await self.proxy.close()

    async def _device_loop(self, dev_id: str) -> None:
        device = self.devices[dev_id]
        while True:
            if dev_id not in self._silenced:
                self.radio.transmit(device.tick(self.clock()))
            await asyncio.sleep(self._interval[dev_id])

    async def _wearable_loop(self, dev_id: str) -> None:
        wearable, link = self.wearables[dev_id], self.links[dev_id]
        spec = next(d.replay for d in self.scenario.devices if d.id == dev_id)
        if spec is not None:
            self.replay(dev_id, spec)
        while True:
            now = self.clock()
            frames = wearable.frames_until(now)
            if dev_id not in self._silenced:
                link.notify(frames, now)
            # 20 ms: a BLE connection interval's worth, so notifications arrive in
            # realistic bursts (recordings play in real time whatever the speed).
            await asyncio.sleep(0.02)

    async def _band_loop(self, dev_id: str) -> None:
        band, link = self.bands[dev_id], self.links[dev_id]
        while True:
            now = self.clock()
            if dev_id not in self._silenced:
                for characteristic, data in band.notifications(now):
                    link.notify([data], now, characteristic)
            await asyncio.sleep(self._interval[dev_id])

    def _resident_plan(self, start: float) -> list[tuple[float, Callable[[], None]]]:
        """The simulated resident's sensor changes and spot checks, from `start` on, as
        (scenario seconds, action); pre-learns their routine first if asked."""
        spec = self.scenario.resident
        assert spec is not None
        from simulators.resident_sim import plan_resident, prelearn

        if spec.learned_days:
            prelearn(self.config, spec, start)
        out: list[tuple[float, Callable[[], None]]] = []
        horizon = self.scenario.duration_s or 2 * 86400.0
        for at, device, value in plan_resident(self.config, spec, start, horizon):
            if isinstance(value, bool):
                out.append((at, functools.partial(self.set_sensor, device, value)))
            else:
                out.append((at, functools.partial(self.measure, device, *value)))
        return out

    async def _play(self, plan: list[tuple[float, Callable[[], None]]]) -> None:
        speed = self.scenario.speed
        for at, act in plan:
            delay = at / speed - (time.monotonic() - self._t0)
            if delay > 0:
                await asyncio.sleep(delay)
            act()

    async def _timeline(self) -> None:
        speed = self.scenario.speed
        for ev in self.scenario.timeline:
            delay = ev.at / speed - (time.monotonic() - self._t0)
            if delay > 0:
                await asyncio.sleep(delay)
            self._apply(ev)

    def _apply(self, ev: SimEvent) -> None:
        log.info("%s: scenario t=%.1f s: %s %s", self.dwelling, ev.at, ev.action, ev.device or "")
        self.happened.append(Happened(ev.at, ev.action, ev.device))
        match ev.action:
            case "press":
                assert ev.device is not None
                self.press(ev.device, ev.press)
            case "stop":
                assert ev.device is not None
                self.stop_device(ev.device)
            case "start":
                assert ev.device is not None
                self.start_device(ev.device)
            case "battery":
                assert ev.device is not None and ev.level is not None
                if ev.device in self.devices:  # a wearable reports no battery (yet)
                    self.devices[ev.device].battery = ev.level
                elif ev.device in self.spot:
                    self.spot[ev.device].battery = ev.level
            case "replay":
                assert ev.device is not None and ev.replay is not None
                self.replay(ev.device, ev.replay)
            case "set":
                assert ev.device is not None and ev.value is not None
                self.set_sensor(ev.device, bool(ev.value))
            case "measure":
                assert ev.device is not None and ev.values is not None
                self.measure(ev.device, ev.values, problems=ev.problems or ())
            case "vitals":
                assert ev.device is not None and ev.values is not None
                self.set_vitals(ev.device, ev.values)
            case "network_down":
                self.network_down(ev.mode)
                if ev.for_s is not None:
                    loop = asyncio.get_running_loop()
                    loop.call_later(ev.for_s / self.scenario.speed, self._restore_unless_stopped)
            case "network_up":
                self.network_up()
            case "radio_fail":
                self.radio.fail()

    def _restore_unless_stopped(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.proxy.restore()
