"""`mz provision` against the shipped Mosquitto (dynamic-security plugin, TLS listener):
every check goes through the credentials read from the bundle the command wrote, as the
dwelling's Pi would use them.

A provisioned dwelling publishes its own topics and nothing else, reads nothing of
another dwelling's or the hub's, cannot subscribe to `#`; nobody connects without
credentials, or without TLS on the TLS listener; a revoked dwelling is dropped and
refused; the real edge agent connects with its bundle; a CSV run provisions many dwellings
in one go, and a bad row or a refusal half-way changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import EdgeSettings, load_settings
from edge.tls import client_context
from hub.client_ca import CA_CERT, CA_DIR, ClientCA
from hub.config import OPS_DB
from hub.registry import SqliteRegistry
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import FAST, hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import (
    ADMIN_PASSWORD,
    HUB_PASSWORD,
    HUB_USER,
    RECORDER_PASSWORD,
    RECORDER_USER,
    TEST_DWELLINGS,
    Mosquitto,
    free_port,
    make_test_certs,
    require_binary,
    running_mosquitto,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
NOT_AUTHORIZED = 0x80  # MQTT 3.1.1 SUBACK failure
DW = "dw-017"
OWN = ("readings", "events", "alarms", "status")
FILES = {
    "password_file": "password",
    "ca_file": "ca.crt",
    "cert_file": "client.crt",
    "key_file": "client.key",
}
FORBIDDEN_FILTERS = (
    "#",
    "mz/v1/#",
    "mz/v1/+/readings",  # every dwelling's data: what the hub reads
    "mz/v1/+/alarms",
    "mz/v1/dw-001/readings",  # another dwelling's data
    "mz/v1/dw-001/cmd/+",  # another dwelling's commands and receipts
    "mz/v1/+/cmd/+",
    f"mz/v1/{DW}/readings",  # even its own data: only the hub reads that
    "$share/mz-hub/mz/v1/+/alarms",  # the hub's shared group
    "$SYS/#",
    "$CONTROL/dynamic-security/#",
)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    d = tmp_path / "mosquitto"
    d.mkdir()
    with running_mosquitto(d, tls=True) as broker:
        yield broker


def mz_provision(
    broker: Mosquitto, tmp_path: Path, *args: str, tls_ca: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`mz provision` as the operator runs it; bundles in tmp_path/out (a single
    dwelling's laid out for "installing" it where it was written, --install-dir), the hub
    in tmp_path/hub."""
    command = args[0]
    extra: list[str] = []
    if command in ("dwelling", "csv"):
        extra = [
            "--edge-url",
            f"mqtts://localhost:{broker.tls_port}",
            "--broker-ca",
            str(tls_ca or broker.workdir / "ca.crt"),
            "--out",
            str(tmp_path / "out"),
        ]
    if command == "dwelling":
        extra += ["--install-dir", str(tmp_path / "out" / args[1])]
    if command != "ca":
        extra += ["--data-dir", str(tmp_path / "hub")]
    return subprocess.run(
        [sys.executable, "-m", "mz", "provision", "--broker", broker.url, *args, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"MZ_BROKER_ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


def provisioned(broker: Mosquitto, tmp_path: Path, dwelling: str = DW, *more: str) -> EdgeSettings:
    out = mz_provision(broker, tmp_path, "dwelling", dwelling, "--label", "Unit 17", *more)
    assert out.returncode == 0, out.stderr
    return bundle_settings(tmp_path, dwelling)


def bundle_settings(tmp_path: Path, dwelling: str = DW, **overrides: Any) -> EdgeSettings:
    """The dwelling's settings as its agent reads them from the bundle's edge.toml."""
    return load_settings(tmp_path / "out" / dwelling / "edge.toml", **overrides)


def as_edge(s: EdgeSettings, **kw: Any) -> aiomqtt.Client:
    """An MQTT client with exactly the bundle's credentials, client id and TLS context."""
    kw.setdefault("identifier", s.mqtt_client_id)
    kw.setdefault("tls_context", client_context(s))
    kw.setdefault("timeout", 5)
    return aiomqtt.Client(
        s.host, s.port, username=s.mqtt_username, password=s.password.get_secret_value(), **kw
    )


@contextlib.asynccontextmanager
async def recorder(broker: Mosquitto) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Every mz/v1 message the broker accepted (a test account that reads everything)."""
    got: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=RECORDER_USER, password=RECORDER_PASSWORD
    ) as rec:
        await rec.subscribe("mz/v1/#", qos=1)

        async def keep() -> None:
            async for msg in rec.messages:
                assert isinstance(msg.payload, bytes)
                got.append((str(msg.topic), msg.payload))

        task = asyncio.create_task(keep())
        try:
            yield got
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def registered(tmp_path: Path) -> list[str]:
    reg = SqliteRegistry(tmp_path / "hub" / OPS_DB)
    try:
        return [d.id for d in reg.dwellings()]
    finally:
        reg.close()


async def dropped(client: aiomqtt.Client) -> None:
    """Returns once the broker has closed `client`'s connection."""
    with pytest.raises(aiomqtt.MqttError):
        async with asyncio.timeout(10):
            async for _ in client.messages:
                pass


async def test_provisioning_writes_a_bundle_and_registers_without_printing_the_secret(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    out = mz_provision(tls_broker, tmp_path, "dwelling", DW, "--label", "Unit 17")
    assert out.returncode == 0, out.stderr
    password = (tmp_path / "out" / DW / "password").read_text().strip()
    assert len(password) >= 32
    assert password not in out.stdout + out.stderr
    assert password not in (tmp_path / "out" / DW / "edge.toml").read_text()
    assert registered(tmp_path) == [DW]
    account = tls_broker.admin().account(DW)
    assert account is not None and (account.kind, account.clientid) == ("dwelling", DW)
    # Asked for, the password is printed (a reissue: the account exists).
    again = mz_provision(tls_broker, tmp_path, "dwelling", DW, "--reissue", "--show-password")
    assert again.returncode == 0, again.stderr
    new = (tmp_path / "out" / DW / "password").read_text().strip()
    assert f"broker password: {new}" in again.stdout and new != password
    # Without --reissue an existing dwelling is refused, and nothing changes.
    refused = mz_provision(tls_broker, tmp_path, "dwelling", DW, "--label", "x")
    assert refused.returncode == 2 and "--reissue" in refused.stderr
    assert (tmp_path / "out" / DW / "password").read_text().strip() == new


async def test_a_provisioned_dwelling_publishes_only_its_own_topics_and_reads_nothing_else(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    s = provisioned(tls_broker, tmp_path)
    assert (s.tls, s.port) == (True, tls_broker.tls_port)
    async with recorder(tls_broker) as seen, as_edge(s) as dw:
        granted = [await dw.subscribe(f, qos=1) for f in FORBIDDEN_FILTERS]
        assert [list(g) for g in granted] == [[NOT_AUTHORIZED]] * len(FORBIDDEN_FILTERS)
        assert list(await dw.subscribe(f"mz/v1/{DW}/cmd/+", qos=1)) == [1]
        # As another dwelling, under the hub's command topics, or nowhere in particular.
        for topic in (
            "mz/v1/dw-001/alarms",
            "mz/v1/dw-001/readings",
            "mz/v1/dw-001/cmd/receipt",
            f"mz/v1/{DW}/cmd/receipt",
            f"mz/v1/{DW}/other",
            "mz/v2/x",
        ):
            await dw.publish(topic, b"{}", qos=1)
        for channel in OWN:
            await dw.publish(f"mz/v1/{DW}/{channel}", channel.encode(), qos=1)
        # The broker keeps a publisher's order: once its own four are in, the forbidden
        # ones before them were dropped, not late.
        await wait_until(lambda: len(seen) >= len(OWN), timeout=10)
        assert seen == [(f"mz/v1/{DW}/{c}", c.encode()) for c in OWN]

        # Another dwelling's traffic and the hub's commands to it never reach dw-017;
        # the hub's command to dw-017 itself does, and is the first thing it gets.
        other = "dw-001"
        async with aiomqtt.Client(
            "127.0.0.1",
            tls_broker.port,
            username=other,
            password=TEST_DWELLINGS[other],
            identifier=other,
        ) as neighbour:
            await neighbour.publish(f"mz/v1/{other}/readings", b"theirs", qos=1)
            await neighbour.publish(f"mz/v1/{other}/alarms", b"theirs", qos=1)
        async with aiomqtt.Client(
            "127.0.0.1", tls_broker.port, username=HUB_USER, password=HUB_PASSWORD
        ) as hub:
            await hub.publish(f"mz/v1/{other}/cmd/receipt", b"theirs", qos=1)
            await hub.publish(f"mz/v1/{DW}/cmd/receipt", b"mine", qos=1)
        async with asyncio.timeout(10):
            first = await anext(aiter(dw.messages))
        assert (str(first.topic), first.payload) == (f"mz/v1/{DW}/cmd/receipt", b"mine")


async def test_nobody_connects_without_credentials_or_without_tls_on_the_tls_listener(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    s = provisioned(tls_broker, tmp_path)
    ctx = client_context(s)
    # The bundle's credentials work (the control case for every refusal below).
    async with as_edge(s):
        pass
    for kw in (
        {"username": None, "password": None},  # anonymous
        {"username": DW, "password": "not-the-password"},
        {"username": DW, "password": None},
    ):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                "localhost", s.port, identifier=DW, tls_context=ctx, timeout=5, **kw
            ):
                pass
    # Its own credentials, but plain MQTT to the TLS listener: no CONNACK, ever.
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(s, tls_context=None, timeout=2):
            pass
    # Its own credentials under another client id.
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(s, identifier="dw-001"):
            pass


async def test_the_edge_agent_connects_with_its_bundle_and_its_alarm_arrives(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    provisioned(tls_broker, tmp_path)
    sc = scenario(room_interval=0.2)
    devices = settings_for(sc, tls_broker, tmp_path).devices
    settings = bundle_settings(
        tmp_path,
        devices=[d.model_dump() for d in devices],
        spool={"path": str(tmp_path / "spool.sqlite")},
        **FAST,
    )
    assert settings.broker_url == f"mqtts://localhost:{tls_broker.tls_port}"
    await alarm_arrives(tls_broker, settings)


async def alarm_arrives(broker: Mosquitto, settings: EdgeSettings) -> None:
    """The real edge agent, on `settings`, connects; a pendant press reaches the hub."""
    sc = scenario(room_interval=0.2)
    async with hub_subscriber(broker) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: hub.of(contract.AlarmMessage, DW), timeout=10)
            await wait_until(lambda: hub.of(contract.ReadingsBatch, DW), timeout=10)


async def test_revoke_drops_the_dwelling_at_once_and_refuses_it_until_reissued(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    old = provisioned(tls_broker, tmp_path)
    async with as_edge(old) as dw:
        await dw.subscribe(f"mz/v1/{DW}/cmd/+", qos=1)
        out = mz_provision(tls_broker, tmp_path, "revoke", DW)
        assert out.returncode == 0, out.stderr
        assert "broker account disabled" in out.stdout and f"removed dwelling {DW}" in out.stdout
        await dropped(dw)
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(old):
            pass
    assert registered(tmp_path) == []
    assert mz_provision(tls_broker, tmp_path, "revoke", "dw-404").returncode == 2

    # Back in with new credentials; the old ones stay refused.
    back = mz_provision(tls_broker, tmp_path, "dwelling", DW, "--label", "Unit 17", "--reissue")
    assert back.returncode == 0, back.stderr
    new = bundle_settings(tmp_path)
    assert new.password != old.password
    async with as_edge(new):
        pass
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(old):
            pass
    assert registered(tmp_path) == [DW]


def write_csv(tmp_path: Path, ids: list[str], bad: dict[int, str] | None = None) -> Path:
    lines = ["id,label,address,language"]
    lines += [f"{d},Unit {d[3:]},Tuinstraat {d[3:]},nl" for d in ids]
    for index, row in (bad or {}).items():
        lines[index] = row
    path = tmp_path / "dwellings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def dwelling_accounts(broker: Mosquitto) -> set[str]:
    return {a.username for a in broker.admin().accounts() if a.username.startswith("dw-1")}


def roles(broker: Mosquitto) -> set[str]:
    [resp] = broker.admin().run([{"command": "listRoles", "count": -1}])
    return {str(r) for r in resp["data"]["roles"]}


async def test_a_csv_file_provisions_every_row_in_one_run(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    ids = [f"dw-{i}" for i in range(100, 140)]
    out = mz_provision(tls_broker, tmp_path, "csv", str(write_csv(tmp_path, ids)), "--cert")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("provisioned 40 dwellings in ")
    assert "40 broker accounts created" in out.stdout
    assert "broker: 40/40" in out.stderr  # the progress display
    assert dwelling_accounts(tls_broker) == set(ids)
    assert registered(tmp_path) == ids
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ids
    for password in ((tmp_path / "out" / d / "password").read_text() for d in ids):
        assert password.strip() not in out.stdout + out.stderr
    # Any one of them is a working dwelling, with its own certificate, once its files
    # are where its edge.toml expects them (here: left in the bundle).
    d = tmp_path / "out" / "dw-123"
    assert 'password_file = "/etc/mz-edge/password"' in (d / "edge.toml").read_text()
    s = bundle_settings(
        tmp_path,
        "dw-123",
        **{k: str(d / f) for k, f in FILES.items()},
    )
    assert s.cert_file == d / "client.crt"
    async with as_edge(s) as dw:
        await dw.publish("mz/v1/dw-123/status", b"{}", qos=1)


async def test_a_bad_row_is_named_by_its_line_and_nothing_is_provisioned(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    ids = [f"dw-{i}" for i in range(100, 120)]
    before = roles(tls_broker)
    path = write_csv(tmp_path, ids, {7: "Mevrouw Jansen,Unit 7,,nl", 12: "dw-112,,,nl"})
    out = mz_provision(tls_broker, tmp_path, "csv", str(path))
    assert out.returncode == 2
    assert "2 bad row(s); nothing was provisioned" in out.stderr
    assert "line 8: 'Mevrouw Jansen' is not a pseudonymous" in out.stderr
    assert "line 13: dw-112 has no label" in out.stderr
    assert "Traceback" not in out.stderr
    assert dwelling_accounts(tls_broker) == set() and roles(tls_broker) == before
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


async def test_a_refusal_half_way_undoes_the_whole_run(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    """The broker refuses dw-130 (a role of its name is left over from elsewhere) after
    thirty dwellings were already made: they are deleted again, nobody is registered,
    no bundle is written; a run without the obstacle then succeeds."""
    tls_broker.admin().run([{"command": "createRole", "rolename": "mz-dwelling-dw-130"}])
    before = roles(tls_broker)
    ids = [f"dw-{i}" for i in range(100, 140)]
    path = write_csv(tmp_path, ids)
    out = mz_provision(tls_broker, tmp_path, "csv", str(path))
    assert out.returncode == 2
    assert "the broker refused some dwellings; nothing was provisioned" in out.stderr
    assert "line 32: dw-130: " in out.stderr
    assert dwelling_accounts(tls_broker) == set()
    assert roles(tls_broker) == before
    assert registered(tmp_path) == []
    assert list((tmp_path / "out").iterdir()) == []  # no bundle, no staging left

    tls_broker.admin().run([{"command": "deleteRole", "rolename": "mz-dwelling-dw-130"}])
    again = mz_provision(tls_broker, tmp_path, "csv", str(path))
    assert again.returncode == 0, again.stderr
    assert dwelling_accounts(tls_broker) == set(ids)


@pytest.fixture
def cert_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """The shipped broker with require_certificate on its TLS listener, which trusts the
    hub's CA for client certificates (as docs/broker.md says to set it up)."""
    binary = require_binary("mosquitto", "mosquitto")
    d = tmp_path / "mosquitto"
    d.mkdir()
    server_ca = make_test_certs(d)
    shutil.copyfile(server_ca, d / "server-ca.crt")
    from datetime import UTC, datetime

    hub_ca = ClientCA.open(tmp_path / "hub" / CA_DIR, datetime.now(UTC))
    with (d / "ca.crt").open("ab") as cafile:  # the listener's cafile: the hub's CA
        cafile.write(hub_ca.cert_pem)
    broker = Mosquitto(
        binary=binary,
        workdir=d,
        port=free_port(),
        tls_port=free_port(),
        overrides={"require_certificate": "true"},
    )
    broker.start()
    assert broker.tls_port is not None
    wait_for_port(broker.tls_port)
    try:
        yield broker
    finally:
        broker.stop()


async def test_where_the_listener_requires_a_client_certificate_the_bundles_works(
    cert_broker: Mosquitto, tmp_path: Path
) -> None:
    ca_path = mz_provision(cert_broker, tmp_path, "ca", "--data-dir", str(tmp_path / "hub"))
    assert ca_path.stdout.strip() == str(tmp_path / "hub" / CA_DIR / CA_CERT)
    out = mz_provision(
        cert_broker,
        tmp_path,
        "dwelling",
        DW,
        "--label",
        "Unit 17",
        "--cert",
        tls_ca=cert_broker.workdir / "server-ca.crt",
    )
    assert out.returncode == 0, out.stderr
    s = bundle_settings(tmp_path)
    async with as_edge(s) as dw:
        await dw.publish(f"mz/v1/{DW}/status", b"{}", qos=1)
    # The password without the certificate is refused at the handshake.
    no_cert = ssl.create_default_context(cafile=str(s.ca_file))
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(s, tls_context=no_cert):
            pass
    # The edge agent itself presents the bundle's certificate too.
    devices = settings_for(scenario(room_interval=0.2), cert_broker, tmp_path).devices
    agent = bundle_settings(
        tmp_path,
        devices=[d.model_dump() for d in devices],
        spool={"path": str(tmp_path / "spool.sqlite")},
        **FAST,
    )
    await alarm_arrives(cert_broker, agent)
    # The certificate is no login on its own: revoked, it gets nowhere.
    assert mz_provision(cert_broker, tmp_path, "revoke", DW).returncode == 0
    with pytest.raises(aiomqtt.MqttError):
        async with as_edge(s):
            pass


def test_bundle_secrets_are_private(tls_broker: Mosquitto, tmp_path: Path) -> None:
    provisioned(tls_broker, tmp_path, DW, "--cert")
    d = tmp_path / "out" / DW
    modes = {p.name: os.stat(p).st_mode & 0o777 for p in d.iterdir()}
    assert modes == {
        "edge.toml": 0o644,
        "password": 0o600,
        "ca.crt": 0o644,
        "client.crt": 0o644,
        "client.key": 0o600,
    }
    assert os.stat(d).st_mode & 0o777 == 0o700
    assert os.stat(tmp_path / "hub" / CA_DIR / "ca.key").st_mode & 0o777 == 0o600
