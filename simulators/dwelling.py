"""A whole simulated dwelling: the REAL edge agent, simulated devices, a cuttable network.

    settings = dwelling_settings(scenario, dwelling="dw-001", password="pw-dw-001",
                                 broker_url="mqtt://127.0.0.1:1883", spool_path=spool)
    dw = SimulatedDwelling(settings, scenario)
    task = asyncio.create_task(dw.run())     # returns after scenario.duration_s or stop()
    await dw.started.wait(); dw.state.alarms_raised; dw.press("pendant-1"); dw.network_down()
    dw.stop(); await task

The devices emit real BTHome v2 bytes into `SimulatedRadio`, which implements the same
`Driver` protocol as the BLE scanner, so everything from the BTHome decoder onwards is
the production code path. The agent reaches the broker through a `TcpProxy` that the
scenario can cut. Several dwellings can run in one process (the demo does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.app import AgentState, EdgeAgent
from edge.config import DeviceConfig, EdgeSettings
from edge.drivers import Emit
from edge.errors import DriverError
from sensors.readings import Advertisement, ButtonPress
from simulators.devices.pendant import SimulatedPendant, SimulatedRoomSensor
from simulators.netem import Mode, TcpProxy
from simulators.scenario import Scenario, ScenarioError, SimEvent

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
        "devices": [
            {"id": d.id, "kind": d.kind, "transport": "ble", "address": d.mac}
            for d in scenario.devices
        ],
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
            if d.id not in ble or ble[d.id].address != d.mac:
                raise ScenarioError(
                    scenario.name, f"device {d.id} ({d.mac}) is not in the agent's BLE devices"
                )
        self.config = config
        self.scenario = scenario
        self.clock = clock
        self.radio = SimulatedRadio(tuple(d.id for d in scenario.devices))
        self.devices: dict[str, SimulatedPendant | SimulatedRoomSensor] = {}
        for i, d in enumerate(scenario.devices):
            if d.kind == "pendant":
                self.devices[d.id] = SimulatedPendant(
                    d.id, d.mac, battery=d.battery, repeats=d.repeats
                )
            else:
                self.devices[d.id] = SimulatedRoomSensor(
                    d.id, d.mac, battery=d.battery, repeats=d.repeats, seed=i
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
        await self.proxy.start()
        self.agent = EdgeAgent(
            self.config,
            drivers=[self.radio],
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
                others.append(tg.create_task(self._timeline(), name="timeline"))
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
                self.devices[ev.device].battery = ev.level
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
