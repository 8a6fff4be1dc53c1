"""The hub process: builds every part from the settings and supervises them.

    hub = build_hub(settings)            # opens the stores; hub.context for the console
    await hub.run(stop, ready)           # ingest, presence, alarm delivery, console
    await hub.close()                    # after reading any figures

or in one go `await run_hub(settings, stop, ready)`. The demo runs a hub in-process
this way; `mz hub run` adds signal handling and logging around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, cast

from sqlalchemy import Engine

from hub.budget import DwellingBudgets
from hub.commands import CommandSender
from hub.config import HubSettings, parse_host_port
from hub.context import AlarmSink, ConsoleSettings, HubContext
from hub.dead_letters import DeadLetters
from hub.dedup import Deduplicator
from hub.errors import ConfigError, StorageError
from hub.event_log import SqlEventStore
from hub.ingest import Ingest, IngestCounters, check_tls
from hub.leases import Lease
from hub.legacy_import import import_legacy
from hub.pg_feed import PgFeed
from hub.presence import PresenceMonitor, PresenceStore, PresenceTracker
from hub.registry import Registry
from hub.sql.engine import sqlite_path
from hub.sql.schema import open_store
from hub.storage.base import TimeSeriesStore
from hub.storage.routed import RoutedStore
from hub.storage.sqlite import SqliteTimeSeriesStore
from hub.watch import ChangeFeed, alarm_feed, registry_feed

if TYPE_CHECKING:
    import uvicorn

    from alerts.dc09.link import Dc09Link
    from alerts.model import AlarmRecord
    from alerts.service import AlarmStats
    from hub.family.summary import DailySummaries
    from hub.fhir.push import Pusher as FhirPusher

log = logging.getLogger(__name__)

DEDUP_PRUNE_EVERY_S: Final = 3600.0
RESTART_MAX_S: Final = 30.0

# The time series' SQLite file under data.dir (the operational store's is config.OPS_DB).
TIMESERIES_DB: Final = "timeseries.sqlite"


class AlarmBackend(AlarmSink, Protocol):
    """alerts.service.AlarmService as the hub drives it."""

    async def run(self, stop: asyncio.Event) -> None: ...
    async def open_count(self, dwelling: str) -> int: ...
    def close(self) -> None: ...
    def recent(self, limit: int = 50) -> list[AlarmRecord]: ...
    def get(self, alarm_id: str) -> AlarmRecord | None: ...
    def stats(self) -> AlarmStats: ...


@dataclass(slots=True)
class Hub:
    """Every part of a running hub; built by `build_hub`, driven by `run`."""

    settings: HubSettings
    context: HubContext
    registry: Registry
    store: TimeSeriesStore  # points to the time-series engine, events to the SQL store
    dedup: Deduplicator
    presence: PresenceMonitor
    ingest: Ingest
    alarms: AlarmBackend
    clock: Callable[[], float]
    # The operational store's engine (alarms, outbox, audit trail, dedup, presence, ...),
    # disposed on close.
    sql: Engine
    console_port: int | None = None  # the port actually bound (console.port may be 0)
    # The family's daily "alles goed" messages (None with a stand-in alarm service).
    summaries: DailySummaries | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def stats(self) -> IngestCounters:
        """Ingest counters: `accepted.<channel>`, `duplicate`, `rejected.<reason>`, ..."""
        return self.ingest.stats

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Run until `stop` is set; `ready` is set once subscribed and serving."""
        # Everything made so far (modules, stores, caches) lives as long as the process:
        # out of the collector's sight, its full collections no longer walk it again and
        # again while ingest makes and drops objects by the thousand.
        gc.freeze()
        parts: dict[str, Callable[[], Awaitable[None]]] = {
            "ingest": lambda: self.ingest.run(stop),
            "presence": lambda: self.presence.run(
                stop, self.settings.presence.check_interval_s, self.ingest.hearing
            ),
            "alarms": lambda: self.alarms.run(stop),
            "maintenance": lambda: self._maintenance(stop),
        }
        if self.summaries is not None:
            summaries = self.summaries
            parts["summaries"] = lambda: summaries.run(stop)
        if self.settings.fhir.push:
            pusher = self.fhir_pusher()
            parts["fhir"] = lambda: pusher.run(stop)
        server: uvicorn.Server | None = None
        sock: socket.socket | None = None
        if self.settings.console.enabled:
            server, sock = self._console_server()
            self.console_port = int(sock.getsockname()[1])
            parts["console"] = functools.partial(server.serve, sockets=[sock])
        tasks = [
            asyncio.create_task(_supervise(name, part, stop), name=f"hub-{name}")
            for name, part in parts.items()
        ]
        try:
            await self._wait_ready(stop, server)
            if ready is not None and not stop.is_set():
                ready.set()
            log.info("hub running (console port %s)", self.console_port)
            await stop.wait()
        finally:
            stop.set()
            if server is not None:
                server.should_exit = True
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    log.warning("hub part ended with %r", r)
            if sock is not None:
                sock.close()
            # The stores stay open so that the caller can still read figures (the demo's
            # summary); `close()` ends them.
            log.info("hub stopped")

    def fhir_pusher(self) -> FhirPusher:
        """The FHIR push subscriptions' worker (hub.fhir.push), on this hub's stores."""
        from alerts.store import AlarmStore
        from hub.fhir.collect import sensor_kinds
        from hub.fhir.consent import ConsentStore
        from hub.fhir.outbox import FhirOutbox
        from hub.fhir.push import Pusher, PushPolicy

        f = self.settings.fhir
        return Pusher(
            ConsentStore(self.sql),
            FhirOutbox(self.sql),
            self.store,
            AlarmStore(self.sql),
            lambda dwelling: sensor_kinds(self.presence.board(), dwelling),
            self.clock,
            policy=PushPolicy(
                interval_s=f.interval_s,
                settle_s=f.settle_s,
                window_max_s=f.window_max_s,
                timeout_s=f.timeout_s,
                max_attempts=f.max_attempts,
                backoff_s=f.backoff_s,
                backoff_max_s=f.backoff_max_s,
            ),
            worker=self.settings.broker.client_id,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.store.close()
        self.dedup.close()
        self.presence.close()
        self.alarms.close()
        self.registry.close()
        self.sql.dispose()

    async def _wait_ready(self, stop: asyncio.Event, server: uvicorn.Server | None) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        connected = asyncio.ensure_future(self.ingest.connected.wait())
        try:
            await asyncio.wait({stopping, connected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
        while server is not None and not server.started and not stop.is_set():
            # uvicorn offers no event for "listening"; it flips `started`.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopping), timeout=0.02)
        stopping.cancel()

    def _console_server(self) -> tuple[uvicorn.Server, socket.socket]:
        import uvicorn

        try:
            from hub.api.app import create_app  # type: ignore[import-not-found,unused-ignore]
            from hub.login_throttle_store import shared_login_limiter
        except ImportError as exc:
            raise ConfigError(f"console enabled but hub.api is unavailable: {exc}") from exc

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                # The hub owns SIGTERM/SIGINT and sets `stop`; uvicorn's own handlers
                # would re-raise the signal after serving and kill the process.
                yield

        c = self.settings.console
        config = uvicorn.Config(
            create_app(
                self.context,
                clock=self.clock,
                watch=self._watch_feeds(),
                # Failed logins counted in the shared store: every worker sees them.
                limiter=shared_login_limiter(self.sql, self.clock),
            ),
            host=c.host,
            port=c.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # X-Forwarded-For only from the proxies configured: otherwise a client picks
            # the address the login throttle counts against.
            proxy_headers=bool(c.trusted_proxies),
            forwarded_allow_ips=list(c.trusted_proxies),
        )
        # Bound here, not by uvicorn: a port in use is then a clear ConfigError instead
        # of uvicorn's sys.exit(1) from inside a task.
        family = socket.AF_INET6 if ":" in c.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((c.host, c.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"console cannot listen on {c.host}:{c.port}: {exc}") from exc
        return _Server(config), sock

    def _watch_feeds(self) -> list[ChangeFeed]:
        """The operational store's change feeds: what other hub processes and `mz admin`
        commit (alarms, the registry) reaches this console's live streams within a second."""
        ops = sqlite_path(self.sql)
        if ops is not None:
            return [registry_feed(ops), alarm_feed(ops)]
        # PostgreSQL: the writers' transactions NOTIFY, alarms and registry alike (hub.pg_feed)
        return [PgFeed("store", self.settings.sql_url)]

    async def _maintenance(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            removed = self.dedup.prune(self.clock())
            if removed:
                log.info(
                    "forgot %d message ids older than %.0f days",
                    removed,
                    self.settings.data.dedup_days,
                )
            await self._expire_points()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=DEDUP_PRUNE_EVERY_S)

    async def _expire_points(self) -> None:
        """The embedded store's retention (InfluxDB keeps its own): points older than
        `timeseries.raw_retention_days` are deleted. A failure is logged and tried again
        at the next round; it never stops the hub."""
        expire = getattr(self.store, "expire", None)
        if not callable(expire):
            return
        days = self.settings.timeseries.raw_retention_days
        try:
            expired = await expire(self.clock() - days * 86400.0)
        except StorageError as exc:
            log.warning("time series: expiring readings failed: %s", exc)
            return
        if expired:
            log.info("time series: deleted %d readings older than %g days", expired, days)


async def _supervise(name: str, part: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run `part` until `stop`; restart it with jittered backoff if it fails."""
    delay = 1.0
    while not stop.is_set():
        try:
            await part()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; restarting in %.1f s", name, delay, exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, RESTART_MAX_S)


def open_points_store(settings: HubSettings) -> TimeSeriesStore:
    """The readings' store: InfluxDB when `[timeseries] url` is set, else embedded SQLite."""
    ts, data = settings.timeseries, settings.data
    target = ts.target()
    if target is None:
        return SqliteTimeSeriesStore(data.dir / TIMESERIES_DB, synchronous=data.synchronous)
    from hub.storage.influx import BUFFER_FILE, InfluxStore, Retention
    from hub.storage.influx_write import WritePolicy

    return InfluxStore(
        target,
        data.dir / BUFFER_FILE,
        buffer_max_readings=ts.buffer_max_readings,
        retention=Retention(
            ts.raw_retention_days, ts.aggregate_retention_days, manage=ts.manage_retention
        ),
        policy=WritePolicy(
            batch_lines=ts.batch_readings,
            attempts=ts.retry_attempts,
            backoff_max_s=ts.backoff_max_s,
        ),
        timeout_s=ts.timeout_s,
    )


def build_hub(
    settings: HubSettings,
    *,
    alarms: AlarmBackend | None = None,
    clock: Callable[[], float] = time.time,
) -> Hub:
    """Open the stores and wire the parts together. Refuses unsafe settings.

    `alarms` replaces the real alerts.service.AlarmService (tests pass a fake).
    """
    settings.require_secrets()
    check_tls(settings.broker)
    data = settings.data
    data.dir.mkdir(parents=True, exist_ok=True)
    # The operational store: one engine (one connection pool) for all its users.
    # FULL on SQLite: a committed alarm (and the outbox behind it) survives a power cut,
    # as the alarm store always did; data.synchronous is for the time series.
    sql = open_store(settings.sql_url, synchronous="FULL")
    import_legacy(sql, data.dir)  # a data.dir from before the operational store, once
    registry = Registry(sql, default_wait_s=settings.routing.step_wait_s)
    store = RoutedStore(open_points_store(settings), SqlEventStore(sql))
    dedup = Deduplicator(sql, keep_days=data.dedup_days)
    own_alarms = alarms is None
    if alarms is None:
        alarms = build_alarm_service(settings, sql, registry, clock)
    tracker = PresenceTracker(
        heartbeat_factor=settings.presence.heartbeat_factor,
        started_at=clock(),
        offline_grace_s=settings.presence.offline_grace_s,
    )
    presence = PresenceMonitor(
        tracker,
        PresenceStore(sql),
        alarms,
        registry,
        clock=clock,
        # Named after the worker's MQTT client id: stable across its restarts, so a
        # restarted worker takes its own lease back at once.
        lease=Lease(sql, "presence", holder=settings.broker.client_id),
    )
    counters = IngestCounters()
    dead = DeadLetters(sql)
    ingest = Ingest(
        settings.broker,
        registry=registry,
        store=store,
        dedup=dedup,
        presence=presence,
        alarms=alarms,
        clock=clock,
        counters=counters,
        budgets=DwellingBudgets(settings.budget.policy()),
        dead_letters=dead,
    )
    c = settings.console
    context = HubContext(
        console=ConsoleSettings(
            secret_key=settings.console_secret,
            public_url=c.public_url,
            language=settings.language,
            ack_link_ttl_s=c.ack_link_ttl_s,
            demo=c.demo,
            session_max_s=c.session_max_s,
            session_idle_s=c.session_idle_s,
            family_summary_time=settings.family.summary_time,
        ),
        registry=registry,
        presence=presence,
        ingest_stats=counters,
        alarms=alarms,
        timeseries=store,
        parked=dead,
        commands=CommandSender(settings.broker, registry, clock),
    )
    hub = Hub(settings, context, registry, store, dedup, presence, ingest, alarms, clock, sql)
    if own_alarms:
        hub.summaries = build_summaries(settings, hub, clock)
    return hub


def build_summaries(settings: HubSettings, hub: Hub, clock: Callable[[], float]) -> DailySummaries:
    """The family's daily messages, through the real alarm service's channels."""
    from hub.family.schedule import parse_time
    from hub.family.summary import DailySummaries, SummaryAlarms

    return DailySummaries(
        hub.registry,
        cast(SummaryAlarms, hub.alarms),
        hub.presence,
        hub.store,
        clock,
        send_time=parse_time(settings.family.summary_time),
        public_url=settings.console.public_url,
    )


def build_alarm_service(
    settings: HubSettings, sql: Engine, registry: Registry, clock: Callable[[], float]
) -> AlarmBackend:
    """The real alarm service from `alerts`: the channel router (mail when [mail] is set,
    apprise and webhook targets per contact) and the DC-09 link when [alarm_centre] is."""
    from alerts.channels.router import ChannelRouter
    from alerts.service import AlarmService
    from alerts.settings import AlertSettings

    mail_url = None if settings.mail.url is None else settings.mail.url.get_secret_value()
    if mail_url is None:
        log.warning("no [mail] url configured: alarms will not be mailed to mantelzorgers")
    secret = settings.channels.webhook_secret
    router = ChannelRouter(mail_url, None if secret is None else secret.get_secret_value())
    alert_settings = AlertSettings(
        public_url=settings.console.public_url,
        secret_key=settings.console_secret,
        ack_link_ttl_s=settings.console.ack_link_ttl_s,
        step_wait_s=settings.routing.step_wait_s,
        fold_window_s=settings.mail.fold_window_s,
        all_clear_within_s=settings.mail.all_clear_within_s,
        language=settings.language,
    )
    service: AlarmBackend = AlarmService(
        sql,
        router,
        registry,
        alert_settings,
        clock,
        centre=build_centre_link(settings, clock),
    )
    return service


def build_centre_link(settings: HubSettings, clock: Callable[[], float]) -> Dc09Link | None:
    """The SIA DC-09 link to the alarm centre, or None when no receiver is configured."""
    from alerts.dc09.link import Dc09Link, LinkSettings, Receiver

    ac = settings.alarm_centre
    if ac.primary is None:
        log.warning("no [alarm_centre] primary configured: alarms do not reach an alarmmeldpunt")
        return None
    backup = None if ac.backup is None else Receiver(*parse_host_port(ac.backup))
    return Dc09Link(
        LinkSettings(
            primary=Receiver(*parse_host_port(ac.primary)),
            backup=backup,
            keys={a: k.get_secret_value() for a, k in ac.keys.items()},
            receiver_no=ac.receiver,
            prefix=ac.prefix,
            ack_timeout_s=ac.ack_timeout_s,
            link_test_interval_s=ac.link_test_interval_s,
            link_test_account=ac.link_test_account,
        ),
        clock,
    )


async def run_hub(
    settings: HubSettings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> Hub:
    """Build a hub, run it until `stop` is set, close it; returns it for its counters."""
    hub = build_hub(settings)
    try:
        await hub.run(stop, ready)
    finally:
        await hub.close()
    return hub
