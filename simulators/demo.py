"""`mz demo`: the whole system on one machine, with nothing installed by hand.

An embedded MQTT broker (amqtt on 127.0.0.1, unless a broker URL is given), the hub on
SQLite with its console, a local mail sink that shows delivered mails, a simulated
alarmmeldpunt (a SIA DC-09 receiver that acknowledges; or an outside receiver with
`--alarm-centre HOST:PORT`), four simulated dwellings running the real edge agent through
scripted scenarios, and a simulated mantelzorger who answers each alarm mail through its
link ("ik ga erheen", then "ik ben er", then closes). Secrets and AES keys are made fresh
at every start; the console login is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from alerts.model import AlarmRecord, Contact
from alerts.routing import parse_window
from hub.app import Hub, build_hub
from hub.config import load_settings
from hub.context import Dwelling, Operator
from sensors.settings import SettingsFileError, read_toml
from simulators.alarm_centre import AlarmCentre
from simulators.broker import HUB_USER, EmbeddedBroker
from simulators.demo_fhir import export_episode, seed_consent
from simulators.demo_residents import seed_residents
from simulators.dwelling import SimulatedDwelling, dwelling_settings
from simulators.mail_sink import MailSink, inbox_app
from simulators.mantelzorger import SimulatedMantelzorger
from simulators.scenario import load_scenario

log = logging.getLogger(__name__)

# Who lives where: the registry links pseudonymous dwelling ids to people. Names stay
# in the hub's registry; MQTT, the time series and DC-09 carry only ids and accounts.
# (dwelling, label, mantelzorger, their mail, DC-09 account)
DEMO_HOMES = (
    ("dw-001", "Unit 1 — Tuinstraat 12, Utrecht", "Anna de Vries", "anna.devries", "1001"),
    ("dw-002", "Unit 2 — Kerklaan 3, Zeist", "Pieter Bakker", "pieter.bakker", "1002"),
    ("dw-003", "Unit 3 — Dorpsweg 41, Houten", "Fatima El Amrani", "fatima.elamrani", "1003"),
    ("dw-004", "Unit 4 — Molenweg 8, Bunnik", "Henk Jansen", "henk.jansen", "1004"),
)
# Each dwelling's second contact: a neighbour, asked after the mantelzorger, not at night.
NEIGHBOUR_WINDOW = "07:00-22:00"
DEMO_OPERATOR = "demo"


@dataclass(frozen=True, slots=True)
class DemoConfig:
    data_dir: Path = Path(".demo")
    console_port: int = 8080
    inbox_port: int = 8025
    smtp_port: int = 2525
    broker_port: int = 18830
    broker_url: str | None = None  # an external broker instead of the embedded one
    broker_credentials: dict[str, str] | None = None  # user -> password, external broker
    shared_subscriptions: bool = False
    step_wait_s: float = 30.0  # each escalation step waits this long for "ik ga erheen"
    ack_delay_s: float = 12.0
    # An outside SIA DC-09 receiver ("host:port", sent unencrypted) instead of the demo's
    # simulated alarm centre.
    alarm_centre: str | None = None
    # The hub's [timeseries] url (demo_influx_url) instead of the embedded SQLite file.
    influx_url: str | None = None
    duration_s: float = 0.0  # 0: until interrupted
    banner_to_stderr: bool = False  # keep stdout for the JSON summary


@dataclass(slots=True)
class DemoSummary:
    started_at: float
    duration_s: float
    alarms: list[AlarmRecord]
    mails: int
    acknowledged_by_link: int
    ingest: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)
    centre: dict[str, Any] = field(default_factory=dict)
    fhir_bundle: str | None = None  # dw-004's NEWS2 episode as a FHIR Bundle (its path)

    def as_dict(self) -> dict[str, Any]:
        rows = []
        for a in self.alarms:
            rows.append(
                {
                    "id": a.id,
                    "dwelling": a.dwelling,
                    "kind": a.kind.value,
                    "severity": a.severity.value,
                    "state": a.state.value,
                    "raised_s": round(a.raised_at - self.started_at, 1),
                    "notify_latency_s": _delta(a.received_at, a.notified_at),
                    "ack_latency_s": _delta(a.received_at, a.acknowledged_at),
                    "notifications": a.notifications_sent,
                    "response": None if a.response is None else a.response.value,
                    "outcome": None if a.outcome is None else a.outcome.value,
                    "centre_handed_s": _at(a.centre_handed_at, self.started_at),
                    # When the receiving centre acknowledged the alarm (DC-09 ACK), in
                    # seconds of demo time, and how long after the hub received it.
                    "centre_acked_s": _at(a.centre_acked_at, self.started_at),
                    "centre_ack_latency_s": _delta(a.received_at, a.centre_acked_at),
                }
            )
        delivered = sum(1 for a in self.alarms if a.notified_at is not None)
        acknowledged = sum(1 for a in self.alarms if a.acknowledged_at is not None)
        return {
            "duration_s": round(self.duration_s, 1),
            "alarms_raised": len(self.alarms),
            "alarms_delivered": delivered,
            "alarms_acknowledged": acknowledged,
            "mails_delivered": self.mails,
            "acknowledged_by_link": self.acknowledged_by_link,
            "alarms_acknowledged_by_centre": sum(
                1 for a in self.alarms if a.centre_acked_at is not None
            ),
            "alarm_centre": self.centre,
            "alarms": rows,
            "ingest": self.ingest,
            "latency": self.stats,
            "fhir_bundle": self.fhir_bundle,
        }


def _delta(start: float, end: float | None) -> float | None:
    return None if end is None else round(end - start, 2)


def _at(moment: float | None, started_at: float) -> float | None:
    return None if moment is None else round(moment - started_at, 1)


def _scenario_path(dwelling: str) -> Path:
    ref = resources.files("simulators") / "scenarios" / "demo" / f"{dwelling}.toml"
    return Path(str(ref))


def _quiet_server(app: Any, port: int) -> Any:
    """A uvicorn server that leaves signal handling to the demo."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))


def _seed(hub: Hub, operator_password: str, family_password: str) -> None:
    registry = hub.registry
    for dwelling_id, label, carer, mail, account in DEMO_HOMES:
        unit = label.split(" — ")[0]
        registry.add_dwelling(Dwelling(id=dwelling_id, label=label, language="nl"))
        registry.add_contact(
            Contact(
                id=f"c-{dwelling_id}",
                dwelling=dwelling_id,
                name=carer,
                email=f"{mail}@mantelzorg.demo",
                language="nl",
                priority=1,
            )
        )
        registry.add_contact(
            Contact(
                id=f"n-{dwelling_id}",
                dwelling=dwelling_id,
                name=f"Buurman van {unit}",
                email=f"buren.{dwelling_id}@mantelzorg.demo",
                language="nl",
                priority=2,
                role="neighbour",
                windows=(parse_window(NEIGHBOUR_WINDOW),),
            )
        )
        # The family page (/familie): each mantelzorger logs in with their address.
        registry.set_contact_password(f"c-{dwelling_id}", family_password, time.time())
        registry.set_alarm_centre_account(dwelling_id, account)
        scenario = load_scenario(_scenario_path(dwelling_id))
        for zone, device in enumerate(scenario.devices, start=1):
            registry.set_zone(dwelling_id, device.id, zone)
    seed_residents(registry, hub.clock())
    seed_consent(hub, hub.clock() - 3600)  # dw-004 shares its data with a hospital (FHIR)
    registry.add_operator(
        # A coordinator: the demo shows editing a resident card too.
        Operator(username=DEMO_OPERATOR, role="coordinator", display_name="Demo-coördinator"),
        operator_password,
    )


def load_credentials(path: Path) -> dict[str, str]:
    """user -> password for an external broker: `hub = "..."`, `dw-001 = "..."` (TOML)."""
    try:
        data = read_toml(path)
    except SettingsFileError as exc:
        raise SettingsFileError(f"{path}: {exc}") from exc
    return {str(k): str(v) for k, v in data.items()}


async def run_demo(cfg: DemoConfig, stop: asyncio.Event | None = None) -> DemoSummary:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if cfg.data_dir.exists():
        shutil.rmtree(cfg.data_dir)
    cfg.data_dir.mkdir(parents=True)

    dwellings = [d for d, *_ in DEMO_HOMES]
    if cfg.broker_url is None:
        passwords = {user: secrets.token_urlsafe(18) for user in (HUB_USER, *dwellings)}
        embedded = EmbeddedBroker(cfg.broker_port, passwords)
        broker: EmbeddedBroker | None = embedded
        broker_url = embedded.url
        shared = False  # amqtt has no shared subscriptions
    else:
        passwords = dict(cfg.broker_credentials or {})
        missing = [u for u in (HUB_USER, *dwellings) if u not in passwords]
        if missing:
            raise ValueError(f"broker credentials lack {', '.join(missing)}")
        broker, broker_url, shared = None, cfg.broker_url, cfg.shared_subscriptions
    operator_password = secrets.token_urlsafe(9)
    family_password = secrets.token_urlsafe(9)
    public_url = f"http://127.0.0.1:{cfg.console_port}"
    centre: AlarmCentre | None = None
    centre_keys: dict[str, str] = {}
    centre_port = 0
    if cfg.alarm_centre is None:
        # The simulated alarm centre: every account's events AES-encrypted, fresh keys.
        centre_keys = {account: secrets.token_hex(8) for *_, account in DEMO_HOMES}
        centre = AlarmCentre("127.0.0.1", 0, keys=centre_keys, clock=time.time)
        centre_port = await centre.start()

    settings = load_settings(
        None,
        broker={
            "url": broker_url,
            "username": HUB_USER,
            "password": passwords[HUB_USER],
            "client_id": "hub.demo",
            "shared_subscriptions": shared,
        },
        data={"dir": str(cfg.data_dir / "hub")},
        console={
            "port": cfg.console_port,
            "public_url": public_url,
            "secret_key": secrets.token_urlsafe(32),
            "demo": True,
        },
        mail={
            "url": f"mailto://127.0.0.1:{cfg.smtp_port}?from=alarm@mobielezorg.demo&mode=insecure"
        },
        routing={"step_wait_s": cfg.step_wait_s},
        timeseries={"url": cfg.influx_url},
        alarm_centre={
            "primary": cfg.alarm_centre or f"127.0.0.1:{centre_port}",
            "keys": centre_keys,
            # The demo shows the link working: tests every 30 s, a short answer timeout.
            "link_test_interval_s": 30.0,
            "ack_timeout_s": 5.0,
        },
    )

    from aiosmtpd.controller import Controller

    sink = MailSink(clock=time.time)
    sink.bind_loop(loop)
    mantelzorger = SimulatedMantelzorger(delay_s=cfg.ack_delay_s)
    sink.listeners.append(mantelzorger.on_mail)
    smtp = Controller(sink, hostname="127.0.0.1", port=cfg.smtp_port)
    inbox = _quiet_server(inbox_app(sink), cfg.inbox_port)

    started_at = time.time()
    tasks: list[asyncio.Task[Any]] = []
    sims: list[SimulatedDwelling] = []
    hub: Hub | None = None
    hub_stop = asyncio.Event()
    try:
        if broker is not None:
            await broker.start()
        smtp.start()
        tasks.append(asyncio.create_task(inbox.serve(), name="demo-inbox"))
        (cfg.data_dir / "hub").mkdir()
        hub = build_hub(settings)
        _seed(hub, operator_password, family_password)
        ready = asyncio.Event()
        hub_task = asyncio.create_task(hub.run(hub_stop, ready), name="demo-hub")
        tasks.append(hub_task)
        waiters = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait({hub_task, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if hub_task.done():
            hub_task.result()  # raises the hub's start-up error
        if stop.is_set():
            raise asyncio.CancelledError
        for dwelling_id in dwellings:
            scenario = load_scenario(_scenario_path(dwelling_id))
            edge = dwelling_settings(
                scenario,
                dwelling=dwelling_id,
                password=passwords[dwelling_id],
                broker_url=broker_url,
                spool_path=cfg.data_dir / dwelling_id / "spool.sqlite",
            )
            (cfg.data_dir / dwelling_id).mkdir()
            sim = SimulatedDwelling(edge, scenario)
            sims.append(sim)
            tasks.append(asyncio.create_task(sim.run(), name=f"demo-{dwelling_id}"))
        _banner(cfg, public_url, operator_password, family_password, broker_url, centre_port)
        if cfg.duration_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=cfg.duration_s)
        else:
            await stop.wait()
    except asyncio.CancelledError:
        pass
    finally:
        for sim in sims:
            sim.stop()
        await mantelzorger.close()
        hub_stop.set()
        inbox.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        smtp.stop(no_assert=True)  # also when it never started
        if broker is not None:
            await broker.stop()
        if centre is not None:
            await centre.stop()

    assert hub is not None
    try:
        episode = await export_episode(
            hub, cfg.data_dir, started_at - 60, sys.stderr if cfg.banner_to_stderr else sys.stdout
        )
        alarms = sorted(hub.alarms.recent(limit=10_000), key=lambda a: a.raised_at)
        stats = hub.alarms.stats().as_dict()
        summary = DemoSummary(
            started_at=started_at,
            duration_s=time.time() - started_at,
            alarms=alarms,
            mails=len(sink.mails),
            acknowledged_by_link=len(mantelzorger.acknowledged),
            ingest=dict(hub.stats.counters()),
            stats={k: v for k, v in stats.items() if k.startswith(("received_", "notified_"))},
            centre=_centre_summary(cfg, centre, hub),
            fhir_bundle=None if episode is None else str(episode),
        )
    finally:
        await hub.close()
    return summary


def _centre_summary(cfg: DemoConfig, centre: AlarmCentre | None, hub: Hub) -> dict[str, Any]:
    state = hub.alarms.centre_state() if hasattr(hub.alarms, "centre_state") else None
    out: dict[str, Any] = {
        "receiver": cfg.alarm_centre or "simulated",
        "reachable": None if state is None else state.reachable,
    }
    if centre is not None:
        out["events_received"] = len(centre.events)
        out["link_tests_received"] = centre.link_tests
        out["events"] = [
            {
                "account": e.account,
                "code": e.event.code,
                "qualifier": e.event.qualifier,
                "zone": e.event.zone,
            }
            for e in centre.events
        ]
    return out


def demo_influx_url(url: str, token: str) -> str:
    """`mz demo --influx URL` (an InfluxDB-v2-compatible endpoint, http(s)://host:port) as
    the hub's [timeseries] url: the v2 write API, org mz, bucket mz, `token`."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{url!r} is not an endpoint like http://127.0.0.1:8086")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    scheme = "influxdb" if parts.scheme == "http" else "influxdbs"
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{quote(token, safe='')}@{netloc}?org=mz&bucket=mz"


def _influx_shown(url: str) -> str:
    parts = urlsplit(url)
    http = "http" if parts.scheme == "influxdb" else "https"
    return f"InfluxDB v2 API at {http}://{parts.hostname}:{parts.port or 8086} (org mz, bucket mz)"


def _banner(
    cfg: DemoConfig,
    public_url: str,
    password: str,
    family_password: str,
    broker_url: str,
    centre_port: int,
) -> None:
    if cfg.alarm_centre is None:
        centre = f"simulated DC-09 receiver on 127.0.0.1:{centre_port} (AES, acknowledges)"
    else:
        centre = f"{cfg.alarm_centre} (SIA DC-09, unencrypted)"
    series = (
        _influx_shown(cfg.influx_url) if cfg.influx_url else f"SQLite in {cfg.data_dir / 'hub'}"
    )
    lines = [
        "",
        "Mobiele Zorg demo is running",
        f"  console      {public_url}   login: {DEMO_OPERATOR} / {password}",
        f"  family page  {public_url}/familie   login: {DEMO_HOMES[0][3]}@mantelzorg.demo"
        f" / {family_password} (every mantelzorger with their address)",
        f"  mail inbox   http://127.0.0.1:{cfg.inbox_port}   (SMTP on 127.0.0.1:{cfg.smtp_port})",
        f"  alarm centre {centre}",
        f"  time series  {series}",
        f"  broker       {broker_url}",
        f"  dwellings    {', '.join(d for d, *_ in DEMO_HOMES)}"
        " (scenarios in simulators/scenarios/demo/)",
        "  " + (f"runs {cfg.duration_s:.0f} s" if cfg.duration_s > 0 else "Ctrl-C stops it"),
        "",
    ]
    print("\n".join(lines), flush=True, file=sys.stderr if cfg.banner_to_stderr else sys.stdout)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
