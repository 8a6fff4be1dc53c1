"""The edge agent: supervises drivers, runs the pipeline, spools and publishes.

    settings -> EdgeAgent(settings) -> await agent.run()   (agent.stop() from SIGTERM)

Shutdown (SIGTERM from systemd, or `stop()`): drivers stop, the pending readings become
a last batch in the spool, the publisher gets `shutdown_flush_s` to have the broker
acknowledge everything spooled, says online=False, and the spool is closed; whatever was
not acknowledged, and every alarm still awaiting the hub's receipt, stays on disk and is
sent after the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from edge.backoff import Backoff
from edge.commands import CommandHandler
from edge.config import EdgeSettings
from edge.detection import Detector
from edge.drivers import Driver
from edge.fallback import LocalFallback
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import LineDecoder, Pipeline
from edge.spool import Spool
from edge.transport import Publisher
from edge.watchdog import Notifier, ping_while_healthy
from sensors import contract
from sensors.readings import Frame

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
# A driver that ran this long before failing was healthy: start its backoff afresh.
_HEALTHY_RUN_S = 60.0


def default_drivers(settings: EdgeSettings) -> list[Driver]:
    """The real drivers for the configured devices: one BLE scanner for the BTHome devices,
    one GATT connection per wearable, one driver per serial port."""
    from edge.drivers.ble import BleScanner
    from edge.drivers.gatt import (
        ACCEL_CHARACTERISTIC,
        ConnectionSlots,
        GattHealthDevice,
        GattWearable,
    )
    from edge.drivers.serial import SerialLineDriver
    from sensors.codecs.ble_health import CHARACTERISTICS

    drivers: list[Driver] = []
    ble = {
        d.address: d.id
        for d in settings.devices
        if d.transport == "ble" and d.address and d.kind not in ("wearable", "gatt")
    }
    if ble:
        drivers.append(BleScanner(ble))
    slots = ConnectionSlots(settings.gatt_max_connections)  # one adapter, shared
    for d in settings.devices:
        if d.kind == "wearable" and d.transport == "ble" and d.address:
            accel = (d.characteristic or ACCEL_CHARACTERISTIC) if d.accelerometer else None
            health = [CHARACTERISTICS[h] for h in d.health]
            drivers.append(GattWearable(d.id, d.address, accel, health=health, slots=slots))
        elif d.kind == "gatt" and d.address:
            chars = [CHARACTERISTICS[h] for h in d.health]
            drivers.append(GattHealthDevice(d.id, d.address, chars, slots=slots))
    for d in settings.devices:
        if d.transport == "serial" and d.port:
            drivers.append(SerialLineDriver(d.id, d.port, baudrate=d.baudrate))
    return drivers


def default_detectors(settings: EdgeSettings, start_t: float) -> list[Detector]:
    """The detectors the configured devices call for: the routine/inactivity detector
    when ambient sensors have a role, NEWS2 and the personal trends when vital-signs
    devices are configured (the fall chain is per wearable, inside the pipeline)."""
    from edge.routine_adapter import RoutineAdapter
    from edge.trends_adapter import TrendsAdapter
    from edge.vitals_adapter import VitalsAdapter

    found: list[Detector | None] = [
        RoutineAdapter.from_settings(settings, start_t),
        VitalsAdapter.from_settings(settings, start_t),
        TrendsAdapter.from_settings(settings),
    ]
    return [d for d in found if d is not None]


@dataclass(frozen=True, slots=True)
class AgentState:
    """A snapshot for status pages and test assertions."""

    connected: bool
    connects: int
    spool_depth: int
    spool_dropped: int
    published: int
    alarms_raised: int
    readings: int
    batches: int
    decode_errors: int
    driver_restarts: dict[str, int]
    sensors: Sequence[contract.SensorHealth]
    # per wearable: the fall policy's state (idle, pending, alarmed, done)
    fall: dict[str, str] = field(default_factory=dict)
    # alarms the broker acknowledged that await the hub's receipt (in spool_depth too)
    awaiting_receipt: int = 0
    # alarms raised and not cancelled, by the alarm book (edge.alarm_book)
    open_alarms: int = 0
    # hub commands: carried out per name, refused per reason (edge.commands)
    commands_done: dict[str, int] = field(default_factory=dict)
    commands_refused: dict[str, int] = field(default_factory=dict)


class EdgeAgent:
    def __init__(
        self,
        settings: EdgeSettings,
        *,
        drivers: Sequence[Driver] | None = None,
        detectors: Sequence[Detector] | None = None,
        line_decoders: dict[str, LineDecoder] | None = None,
        broker_host: str | None = None,
        broker_port: int | None = None,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        watchdog_s: float | None = None,
        fallback: LocalFallback | None = None,
    ) -> None:
        """`notifier`: systemd's notification socket (READY, STOPPING); `watchdog_s`: ping
        its watchdog this often while healthy (edge.watchdog; both None outside systemd)."""
        self.settings = settings
        self.clock = clock
        self.started = clock()
        self._started_mono = time.monotonic()
        self.drivers = list(drivers) if drivers is not None else default_drivers(settings)
        self.spool = Spool(
            settings.spool.path,
            max_messages=settings.spool.max_messages,
            max_bytes=settings.spool.max_bytes,
        )
        self.outbox = Outbox(self.spool)
        self.health = HealthTracker(
            ((d.id, d.kind, settings.silence_for(d)) for d in settings.devices), self.started
        )
        if detectors is None:
            detectors = default_detectors(settings, self.started)
        self.pipeline = Pipeline(
            settings, self.outbox, self.health, detectors=detectors, line_decoders=line_decoders
        )
        self.commands = CommandHandler(
            settings, self.pipeline, self.outbox, self.report, clock=clock
        )
        self.publisher = Publisher(
            settings,
            self.outbox,
            self.make_status,
            on_command=self._on_command,
            on_bad_command=self.commands.malformed,
            host=broker_host,
            port=broker_port,
        )
        # The GSM fallback (`[fallback]`): texts the mantelzorgers when the hub is away.
        if fallback is None and settings.fallback is not None:
            fallback = LocalFallback(
                settings.fallback,
                dwelling=settings.dwelling,
                tz=ZoneInfo(settings.timezone),
                spool=self.spool,
                outbox=self.outbox,
                clock=clock,
            )
        self.fallback = fallback
        self.driver_restarts: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._notifier = notifier
        self._watchdog_s = watchdog_s
        self._main_tasks: list[asyncio.Task[None]] = []
        self._stopping_sent = False

    # -- state ----------------------------------------------------------------------

    def make_status(self, online: bool) -> contract.Status:
        now = self.clock()
        return contract.Status(
            id=contract.new_id(),
            dwelling=self.settings.dwelling,
            ts=now,
            online=online,
            uptime_s=max(0.0, time.monotonic() - self._started_mono),
            spool_depth=self.spool.depth,
            spool_dropped=self.spool.dropped,
            heartbeat_s=self.settings.heartbeat_s,
            sensors=[
                *self.health.snapshot(now),
                *([self.fallback.health()] if self.fallback is not None else []),
            ][:256],
            agent_version=AGENT_VERSION,
        )

    @property
    def state(self) -> AgentState:
        p, t = self.pipeline.stats, self.publisher.stats
        return AgentState(
            connected=t.connected,
            connects=t.connects,
            spool_depth=self.spool.depth,
            spool_dropped=self.spool.dropped,
            published=t.published,
            alarms_raised=len(p.alarms),
            readings=p.readings,
            batches=p.batches,
            decode_errors=sum(p.decode_errors.values()),
            driver_restarts=dict(self.driver_restarts),
            sensors=self.health.snapshot(self.clock()),
            fall={k: m.state for k, m in self.pipeline.fall_monitors.items()},
            awaiting_receipt=self.spool.awaiting,
            open_alarms=len(self.pipeline.book.open_alarms()),
            commands_done=dict(self.commands.stats.done),
            commands_refused=dict(self.commands.stats.refused + self.commands.stats.malformed),
        )

    def report(self, now: float) -> dict[str, float | int | bool | str | None]:
        """The figures a `status_report` command answers with (flat, for the wire)."""
        state = self.state
        sensors = Counter(s.state for s in state.sensors)
        return {
            "agent_version": AGENT_VERSION,
            "uptime_s": round(max(0.0, time.monotonic() - self._started_mono), 1),
            "connects": state.connects,
            "spool_depth": state.spool_depth,
            "spool_dropped": state.spool_dropped,
            "awaiting_receipt": state.awaiting_receipt,
            "readings": state.readings,
            "alarms_raised": state.alarms_raised,
            "decode_errors": state.decode_errors,
            "driver_restarts": sum(state.driver_restarts.values()),
            "sensors_ok": sensors["ok"],
            "sensors_silent": sensors["silent"],
            "sensors_failed": sensors["failed"],
            "silenced": len(self.pipeline.book.silenced(now)),
            # Refused at the boundary (sensors.plausibility, encrypted BTHome): counted,
            # never sent as readings, so this is where an operator sees them.
            "implausible": sum(self.pipeline.stats.implausible.values()),
            "replays": self.pipeline.stats.replays,
            "skipped_objects": self.pipeline.stats.skipped_objects,
        }

    # -- running --------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run()` to flush and return (safe to call from a signal handler)."""
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def health_problems(self) -> list[str]:
        """Why the agent is not healthy; empty while it is (the watchdog pings then).

        Healthy: the event loop turns (this runs on it: a blocked loop asks nothing, and the
        pings stop by themselves) and the long-lived tasks all still run: the publisher
        (MQTT connection, spool drain, heartbeat), the ticker (readings batches, the
        detectors' clock) and every driver's supervisor. Those never return and their
        errors end the agent, so one that has ended is a bug that a restart clears. A broker
        out of reach or a failing radio is not unhealthy: the spool and the supervisors
        deal with those, and a restart would not help."""
        return [f"task {t.get_name()} has ended" for t in self._main_tasks if t.done()]

    def _notify_stopping(self) -> None:
        if self._notifier is not None and not self._stopping_sent:
            self._stopping_sent = True
            self._notifier.notify("STOPPING=1")

    def _on_frame(self, frame: Frame) -> None:
        self.pipeline.handle(frame)

    def _on_command(self, cmd: contract.Command) -> None:
        # Test alarm, silence, care plan, status report (edge.commands); answered through
        # the spool. A spool that cannot be written is the agent's end (as for readings).
        self.commands.handle(cmd)

    async def run(self) -> None:
        log.info(
            "edge agent for %s: %d devices, %d drivers, spool %s (%d queued)",
            self.settings.dwelling,
            len(self.settings.devices),
            len(self.drivers),
            self.settings.spool.path,
            self.spool.depth,
        )
        try:
            async with asyncio.TaskGroup() as tg:
                publisher = tg.create_task(self.publisher.run(), name="publisher")
                workers = [
                    tg.create_task(self._supervise(d), name=f"driver:{d.name}")
                    for d in self.drivers
                ]
                workers.append(tg.create_task(self._ticker(), name="ticker"))
                if self.fallback is not None:
                    workers.append(tg.create_task(self.fallback.run(), name="fallback"))
                self._main_tasks = [publisher, *workers]
                if self._notifier is not None:
                    if self._watchdog_s is not None:
                        log.info("systemd watchdog: a ping every %.1f s", self._watchdog_s)
                        ping = ping_while_healthy(
                            self._notifier, self._watchdog_s, self.health_problems
                        )
                        workers.append(tg.create_task(ping, name="watchdog"))
                    self._notifier.notify("READY=1")
                await self._stop.wait()
                self._notify_stopping()
                log.info(
                    "stopping: flushing the spool (up to %.1f s)", self.settings.shutdown_flush_s
                )
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self.pipeline.flush_batch(self.clock())
                drained = await self.publisher.flush(self.settings.shutdown_flush_s)
                if not drained:
                    log.warning("stopped with %d messages still spooled on disk", self.spool.unsent)
                if self.spool.awaiting:
                    log.info(
                        "alarms awaiting the hub's receipt: %d (kept in the spool, sent again"
                        " after the next start)",
                        self.spool.awaiting,
                    )
                await self.publisher.say_goodbye()
                publisher.cancel()
        finally:
            self._notify_stopping()  # also when a task's error ends the agent
            try:
                self.pipeline.counters.save(force=True)
            except Exception as exc:  # the spool itself may be what failed
                log.error("BTHome counters not saved at the stop: %s", exc)
            self.spool.close()
            self._stopped.set()
            log.info("edge agent stopped")

    async def _ticker(self) -> None:
        period = self.settings.batch_s
        next_t = time.monotonic()
        while True:
            next_t += period
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            self.pipeline.tick(self.clock())

    async def _supervise(self, driver: Driver) -> None:
        s = self.settings
        backoff = Backoff(s.driver_backoff_min_s, s.driver_backoff_max_s)
        while True:
            began = time.monotonic()
            # "failed" covers the backoff wait; once running, silence tracking takes over.
            self.health.set_failed(driver.sensors, False)
            try:
                await driver.run(self._on_frame)
                log.warning("driver %s returned; restarting it", driver.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the supervisor is the one place that catches broadly
                log.warning("driver %s failed: %s", driver.name, exc)
            self.health.set_failed(driver.sensors, True)
            self.driver_restarts[driver.name] += 1
            if time.monotonic() - began > _HEALTHY_RUN_S:
                backoff.reset()
            delay = backoff.next()
            log.info("restarting driver %s in %.1f s", driver.name, delay)
            await asyncio.sleep(delay)


async def run_until_signalled(agent: EdgeAgent) -> None:
    """Run `agent`, stopping it cleanly on SIGTERM or SIGINT."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, agent.stop)
    await agent.run()
