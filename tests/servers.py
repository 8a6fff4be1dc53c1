"""Real servers for integration and end-to-end tests, started as plain processes on loopback.

A test that needs a server it cannot find is skipped with a message naming the Debian
package to install, except under CI=true, where it fails: CI installs everything.
"""

from __future__ import annotations

import asyncio
import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub, build_hub
from hub.broker_admin import DynsecAdmin
from hub.config import HubSettings

HUB_USER = "hub.1"
HUB_PASSWORD = "hub-test-pw"


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        msg = f"{name} not found: install the Debian package {package!r} (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def make_test_certs(d: Path) -> Path:
    """A throw-away CA and a server certificate for localhost/127.0.0.1 in `d`, named as
    deploy/mosquitto expects them (ca.crt, server.crt, server.key). Returns the CA file."""
    openssl = require_binary("openssl", "openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=mz-test-ca",
    )
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return d / "ca.crt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


async def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait for `predicate()` (sync or async) to become truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate!r}")
        await asyncio.sleep(interval)


DEPLOY_MOSQUITTO = Path(__file__).parents[1] / "deploy" / "mosquitto" / "mosquitto.conf"
ADMIN_USER = "mz-admin"
ADMIN_PASSWORD = "admin-test-pw"
# A test-only account that reads everything: the broker-side ground truth.
RECORDER_USER = "recorder"
RECORDER_PASSWORD = "recorder-test-pw"
TEST_DWELLINGS = {f"dw-{i:03d}": f"pw-dw-{i:03d}" for i in range(1, 6)}


def _dynsec_plugin() -> str:
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so"))
    if not found:
        msg = "mosquitto_dynamic_security.so not found: install the Debian package 'mosquitto'"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return found[0]


def shipped_config(
    workdir: Path,
    port: int,
    *,
    tls_port: int | None = None,
    overrides: dict[str, str] | None = None,
) -> str:
    """deploy/mosquitto/mosquitto.conf as shipped, with its host paths and ports moved into
    `workdir` and the test's ports; `overrides` replace single settings (e.g. a smaller
    `max_queued_messages` so a flood test need not send 100,000 messages)."""
    overrides = dict(overrides or {})
    out: list[str] = []
    in_tls = False
    for line in DEPLOY_MOSQUITTO.read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            in_tls = not line.endswith("127.0.0.1")
            if in_tls:
                if tls_port is not None:
                    out.append(f"listener {tls_port} 127.0.0.1")
                continue
            out.append(f"listener {port} 127.0.0.1")
            continue
        if in_tls and key in ("cafile", "certfile", "keyfile", "tls_version"):
            if tls_port is not None:
                out.append(line.replace("/etc/mosquitto/certs/", f"{workdir}/"))
            continue
        if key == "plugin":
            line = f"plugin {_dynsec_plugin()}"
        elif key == "plugin_opt_config_file":
            line = f"plugin_opt_config_file {workdir}/dynamic-security.json"
        elif key == "persistence_location":
            line = f"persistence_location {workdir}/"
        elif key == "log_dest":
            line = f"log_dest file {workdir}/mosquitto.log"
        elif key in overrides:
            line = f"{key} {overrides.pop(key)}"
        out.append(line)
    out += [f"{k} {v}" for k, v in overrides.items()]
    if os.geteuid() == 0:
        out.append("user root")  # or it drops to user mosquitto and cannot read its files
    return "\n".join(out) + "\n"


@dataclass
class Mosquitto:
    """A real Mosquitto with the shipped configuration and accounts made by `mz broker`'s
    code (hub.broker_admin): HUB_USER, dw-001..dw-005 (TEST_DWELLINGS) and RECORDER_USER."""

    binary: str
    workdir: Path
    port: int
    tls_port: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def admin(self) -> DynsecAdmin:
        return DynsecAdmin("127.0.0.1", self.port, ADMIN_USER, ADMIN_PASSWORD)

    def add_publisher(self, username: str, password: str, topic: str) -> None:
        """A test-only account that may publish `topic` (e.g. every dwelling's readings):
        a load generator that need not log in as a thousand dwellings."""
        self.admin().run(
            [
                {
                    "command": "createRole",
                    "rolename": username,
                    "acls": [{"acltype": "publishClientSend", "topic": topic, "allow": True}],
                },
                {
                    "command": "createClient",
                    "username": username,
                    "password": password,
                    "roles": [{"rolename": username}],
                },
            ]
        )

    def add_dwelling(self, dwelling: str, password: str) -> None:
        """A dwelling account as `mz broker add-dwelling` makes it, with a known password."""
        admin = self.admin()
        admin.add_dwelling(dwelling)
        admin.run([{"command": "setClientPassword", "username": dwelling, "password": password}])

    def _write_config(self) -> Path:
        state = self.workdir / "dynamic-security.json"
        if not state.exists():
            shutil.copyfile(_dynsec_template(self.binary), state)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            shipped_config(
                self.workdir, self.port, tls_port=self.tls_port, overrides=self.overrides
            )
        )
        return conf

    def start(self) -> None:
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@functools.cache
def _dynsec_template(binary: str) -> Path:
    """The plugin's state with every test account, made once per test session by the
    real provisioning code against a real broker, then copied for each test's broker."""
    ctrl = require_binary("mosquitto_ctrl", "mosquitto")
    d = Path(tempfile.mkdtemp(prefix="mz-dynsec-"))
    subprocess.run(
        [ctrl, "dynsec", "init", str(d / "dynamic-security.json"), ADMIN_USER, ADMIN_PASSWORD],
        check=True,
        capture_output=True,
    )
    broker = Mosquitto(binary=binary, workdir=d, port=free_port())
    broker.start()
    try:
        admin = broker.admin()
        admin.setup()
        admin.add_hub(HUB_USER)
        admin.run(
            [
                {"command": "setClientPassword", "username": HUB_USER, "password": HUB_PASSWORD},
                {
                    "command": "createRole",
                    "rolename": "mz-recorder",
                    "acls": [
                        {"acltype": "subscribePattern", "topic": "mz/v1/#", "allow": True},
                        {"acltype": "publishClientReceive", "topic": "mz/v1/#", "allow": True},
                    ],
                },
                {
                    "command": "createClient",
                    "username": RECORDER_USER,
                    "password": RECORDER_PASSWORD,
                    "roles": [{"rolename": "mz-recorder"}],
                },
            ]
        )
        for dwelling, password in TEST_DWELLINGS.items():
            broker.add_dwelling(dwelling, password)
    finally:
        broker.stop()
    return d / "dynamic-security.json"


@contextmanager
def running_mosquitto(
    tmp: Path, *, tls: bool = False, overrides: dict[str, str] | None = None
) -> Iterator[Mosquitto]:
    """The shipped broker in `tmp`; with `tls`, also its TLS listener (test certificates
    made in `tmp`, CA at tmp/ca.crt)."""
    binary = require_binary("mosquitto", "mosquitto")
    if tls:
        make_test_certs(tmp)
    broker = Mosquitto(
        binary=binary,
        workdir=tmp,
        port=free_port(),
        tls_port=free_port() if tls else None,
        overrides=dict(overrides or {}),
    )
    broker.start()
    if broker.tls_port is not None:
        wait_for_port(broker.tls_port)
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every mail it receives."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def apprise_url(self, to: str = "mantelzorger@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=hub@example.org&to={to}&mode=insecure"


@contextmanager
def running_smtp() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class SiaReceiver:
    """pysiaalarm's real SIA DC-09 receiver (TCP) on loopback, keeping what it receives.

    `keys` maps an account to its AES key (None: plain). Start and stop it as often as a
    test needs (a receiver that is down and comes back); events survive restarts. Use a
    real-time clock with it: it refuses timestamps more than 40 s off its own.
    """

    port: int
    keys: dict[str, str | None]
    events: list[Any] = field(default_factory=list)
    _client: Any = None

    async def start(self) -> None:
        from pysiaalarm.account import SIAAccount
        from pysiaalarm.aio.client import SIAClient
        from pysiaalarm.utils.enums import CommunicationsProtocol

        async def received(event: Any) -> None:
            self.events.append(event)

        accounts = [SIAAccount(a, k) for a, k in self.keys.items()]
        # SIAClient picks its TCP subclass in __new__ (mypy sees only the abstract base).
        self._client = SIAClient(  # type: ignore[abstract]
            "127.0.0.1", self.port, accounts, received, protocol=CommunicationsProtocol.TCP
        )
        await self._client.async_start()  # not `async with`: it swallows exceptions
        wait_for_port(self.port)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.async_stop()
            self._client = None

    def alarms(self) -> list[tuple[str, str, str, str]]:
        """(account, qualifier, Contact ID code, zone) of every event that is no link test."""
        return [
            (str(e.account), str(e.event_qualifier), str(e.event_type), str(e.ri))
            for e in self.events
            if e.message_type is not None and "NULL" not in str(e.message_type)
        ]


@asynccontextmanager
async def hub_running(settings: HubSettings) -> AsyncIterator[Hub]:
    """A real hub (`build_hub`) running in-process until the block ends; closed afterwards.
    A hub that fails to start raises its error here."""
    hub = build_hub(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(hub.run(stop, ready))
    await wait_until(lambda: ready.is_set() or task.done())
    if task.done():
        task.result()  # raises what went wrong
    try:
        yield hub
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await hub.close()


@dataclass
class InfluxDB1:
    """A real InfluxDB 1.x (Debian's `influxdb`, 1.6.7: v1 /write and InfluxQL only), its
    data in `workdir`, restartable on the same port and data."""

    binary: str
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, db: str) -> str:
        """`[timeseries] url` for database `db` (made by the store)."""
        return f"influxdb1://127.0.0.1:{self.port}?db={db}"

    def start(self) -> None:
        env = {
            **os.environ,
            "INFLUXDB_META_DIR": str(self.workdir / "meta"),
            "INFLUXDB_DATA_DIR": str(self.workdir / "data"),
            "INFLUXDB_DATA_WAL_DIR": str(self.workdir / "wal"),
            "INFLUXDB_HTTP_BIND_ADDRESS": f"127.0.0.1:{self.port}",
            "INFLUXDB_BIND_ADDRESS": f"127.0.0.1:{free_port()}",
            "INFLUXDB_REPORTING_DISABLED": "true",
            "INFLUXDB_HTTP_LOG_ENABLED": "false",
        }
        log = (self.workdir / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "run", "-config", "/dev/null"], env=env, stdout=log, stderr=log
        )
        log.close()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def query(self, statement: str, db: str) -> list[list[Any]]:
        """Rows of one InfluxQL statement (epoch µs), straight from the server."""
        import httpx

        r = httpx.post(
            f"{self.http}/query", params={"q": statement, "db": db, "epoch": "u"}, timeout=10
        )
        r.raise_for_status()
        result = r.json()["results"][0]
        assert "error" not in result, result["error"]
        # A series may have no rows: SHOW CONTINUOUS QUERIES lists every database.
        return [row for s in result.get("series", []) for row in s.get("values", [])]


@contextmanager
def running_influxdb(tmp: Path) -> Iterator[InfluxDB1]:
    """InfluxDB 1.x on a free loopback port, data in `tmp` (ready in ~50 ms)."""
    server = InfluxDB1(require_binary("influxd", "influxdb"), tmp, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Victoria:
    """A real victoria-metrics (Debian's, 1.79): takes the InfluxDB v2 write API, reads
    back through its export API (no InfluxQL)."""

    binary: str
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self) -> str:
        return f"influxdb://demo@127.0.0.1:{self.port}?org=mz&bucket=mz"

    def start(self) -> None:
        log = (self.workdir / "victoria.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.workdir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-search.latencyOffset=0s",
                "-selfScrapeInterval=0",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching `match` (a series selector) with its samples, made
        visible first (it shows new data only after ~1 s otherwise)."""
        import json

        import httpx

        httpx.get(f"{self.http}/internal/force_flush", timeout=10).raise_for_status()
        r = httpx.post(f"{self.http}/api/v1/export", data={"match[]": match}, timeout=10)
        r.raise_for_status()
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]


@contextmanager
def running_victoria(tmp: Path) -> Iterator[Victoria]:
    server = Victoria(require_binary("victoria-metrics", "victoria-metrics"), tmp, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
