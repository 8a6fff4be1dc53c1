"""deploy/compose/compose.yaml, checked without Docker (no engine here, so it is never run):
its YAML, every MZ_HUB_ variable a real hub setting, each worker's settings as the
container gets them, and services, images, ports, volumes, secrets and healthchecks
consistent with each other and with deploy/mosquitto/mosquitto.conf."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
import yaml

from hub.config import HubSettings, load_settings
from tests.hub_env import hub_field_path, parse_env_file
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    TEST_DWELLINGS,
    _dynsec_template,
    free_port,
    make_test_certs,
    require_binary,
    shipped_config,
    wait_for_port,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
SERVICES_RUNNING_FOR_GOOD = {"mosquitto", "postgres", "influxdb", "hub-1", "hub-2"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def hubs(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in services(compose).items() if k.startswith("hub-")}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """The container's environment: env_file entries (their examples: the real ones are not
    in the repository), then `environment:`, which wins in compose."""
    env: dict[str, str] = {}
    for name in service.get("env_file", []):
        example = COMPOSE_DIR / f"{name}.example"
        if not example.exists():  # secrets/hub-2.env is made like hub-1.env
            example = COMPOSE_DIR / (re.sub(r"hub-\d+\.env$", "hub-1.env", name) + ".example")
        env |= parse_env_file(example.read_text())
    env |= {k: str(v) for k, v in (service.get("environment") or {}).items()}
    return env


def hub_settings(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> HubSettings:
    """The settings a worker's `mz hub run` builds from the mounted hub.toml and its env."""
    toml = next(v for v in service["volumes"] if v.split(":")[1] == "/etc/mz/hub.toml")
    with monkeypatch.context() as m:
        for name, value in env_of(service).items():
            m.setenv(name, value.replace("change-me", "a-real-secret-for-the-test"))
        settings = load_settings(COMPOSE_DIR / toml.split(":")[0])
        settings.require_secrets()  # what `mz hub run` refuses to start without
    return settings


def test_the_stack(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == SERVICES_RUNNING_FOR_GOOD
    for name, service in services(compose).items():
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service, name
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    assert services(compose)["postgres"]["image"] == "postgres:15"
    assert services(compose)["influxdb"]["image"].startswith("influxdb:2.")


def test_every_mz_hub_variable_is_a_setting(compose: dict[str, Any]) -> None:
    named = [n for s in hubs(compose).values() for n in env_of(s) if n.startswith("MZ_HUB_")]
    assert len(named) >= 6
    for name in named:
        hub_field_path(name)
    for service in services(compose).values():  # nothing else is given hub settings
        if service not in hubs(compose).values():
            assert not [n for n in service.get("environment") or {} if n.startswith("MZ_HUB_")]


def test_each_worker_its_own_identity_on_one_shared_subscription(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = {name: hub_settings(s, monkeypatch) for name, s in hubs(compose).items()}
    assert len(workers) == 2
    assert len({w.broker.client_id for w in workers.values()}) == 2
    assert len({w.broker.username for w in workers.values()}) == 2
    for w in workers.values():
        assert w.broker.shared_subscriptions and w.broker.share_group == "mz-hub"
        assert w.broker.username == w.broker.client_id  # `mz broker add-hub <client id>`
    # One operational store for both.
    assert len({w.sql_url for w in workers.values()}) == 1


def test_workers_reach_the_other_services_by_name(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = services(compose)
    settings = hub_settings(svc["hub-1"], monkeypatch)
    # The broker: its TLS listener in the shipped mosquitto.conf, which is mounted.
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    listeners = re.findall(r"^listener (\d+)(?: (\S+))?$", conf, re.M)
    public = {int(port) for port, host in listeners if not host}
    loopback = {int(port) for port, host in listeners if host == "127.0.0.1"}
    assert settings.broker.host == "mosquitto" and settings.broker.tls
    assert settings.broker.port in public
    assert f"{settings.broker.port}:{settings.broker.port}" in svc["mosquitto"]["ports"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["mosquitto"]["volumes"]}
    assert mounts["/etc/mosquitto/mz.d/mz.conf"] == "../mosquitto/mosquitto.conf"
    main_conf = (COMPOSE_DIR / "mosquitto-container.conf").read_text()
    assert "include_dir /etc/mosquitto/mz.d" in main_conf
    # Mosquitto refuses a setting given twice: the container's main file adds none of them.
    keys = {line.split()[0] for line in conf.splitlines() if line and line[0] != "#"}
    assert {line.split()[0] for line in main_conf.splitlines() if line and line[0] != "#"} & (
        keys - {"log_dest"}
    ) == set()
    cert_dir = next(v for v in svc["mosquitto"]["volumes"] if ":/etc/mosquitto/certs" in v)
    assert "/etc/mosquitto/certs/" in conf and cert_dir.startswith("./certs:")
    assert f"/{min(loopback)}" in " ".join(svc["mosquitto"]["healthcheck"]["test"])
    assert str(settings.broker.ca_file) in [v.split(":")[1] for v in svc["hub-1"]["volumes"]]
    # PostgreSQL: the database and role the postgres service creates.
    sql = urlsplit(settings.sql_url)
    pg = svc["postgres"]["environment"]
    assert (sql.scheme, sql.hostname, sql.port) == ("postgresql", "postgres", 5432)
    assert sql.username == pg["POSTGRES_USER"] and sql.path == f"/{pg['POSTGRES_DB']}"
    # InfluxDB: by service name on its port ([timeseries] url, issue 12's InfluxDB part).
    influx = urlsplit(env_of(svc["hub-1"])["MZ_HUB_TIMESERIES__URL"])
    assert (influx.hostname, influx.port) == ("influxdb", 8086)
    # The workers wait for what they need to be healthy, not merely started.
    for hub in hubs(compose).values():
        assert hub["depends_on"] == {
            s: {"condition": "service_healthy"} for s in ("mosquitto", "postgres", "influxdb")
        }


def test_consoles_on_the_hosts_loopback_only(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in hubs(compose).items():
        settings = hub_settings(service, monkeypatch)
        (port,) = service["ports"]
        host_ip, _, container_port = port.split(":")
        assert host_ip == "127.0.0.1", name  # the TLS reverse proxy is on the host
        assert int(container_port) == settings.console.port
        assert f":{settings.console.port}/api/v1/health" in " ".join(service["healthcheck"]["test"])
        # The proxy arrives from the compose network's gateway: trusted, and nobody else.
        gateway = compose["networks"]["mz"]["ipam"]["config"][0]["gateway"]
        assert settings.console.trusted_proxies == (gateway,)
    ports = [p for s in services(compose).values() for p in s.get("ports", [])]
    host_ports = [p.rsplit(":", 2)[-2] for p in ports]
    assert len(host_ports) == len(set(host_ports)), "two services publish one host port"
    # PostgreSQL and InfluxDB only on the compose network.
    assert "ports" not in services(compose)["postgres"]
    assert "ports" not in services(compose)["influxdb"]


def test_volumes_and_secrets(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a bind mount
                path = (COMPOSE_DIR / source).resolve()
                if source.startswith(("./secrets", "./certs")):
                    assert not path.exists() or _ignored(path), f"{name}: {source} in git?"
                else:
                    assert path.exists(), f"{name}: {source} is not in the repository"
            else:
                used.add(source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: secret {secret} not declared"
            assert f"/run/secrets/{secret}" in str(service.get("environment")), name
    assert used == declared, "a named volume declared but unused, or used undeclared"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
        assert _ignored(COMPOSE_DIR / secret["file"])
    assert _ignored(COMPOSE_DIR / "secrets" / "hub.env")
    assert not _ignored(COMPOSE_DIR / "secrets" / "hub.env.example")


def _ignored(path: Path) -> bool:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", str(path)], check=False, timeout=30
    )
    return done.returncode == 0


def test_the_dockerfile_builds_what_compose_asks_for(compose: dict[str, Any]) -> None:
    builds = [s["build"] for s in services(compose).values() if "build" in s]
    assert builds
    for build in builds:
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == ROOT
        dockerfile = context / build["dockerfile"]
        stages = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile.read_text(), re.M)
        assert build["target"] in stages
    text = (ROOT / "deploy" / "compose" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+) ", text, re.M)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    # Everything the Dockerfile copies is let through the build context's ignore file.
    ignore = (ROOT / "deploy" / "compose" / "Dockerfile.dockerignore").read_text().split()
    for source in copied:
        assert f"!{source}" in ignore, f"{source} is excluded from the build context"
    # The hub image holds every package pyproject.toml installs.
    for package in ("mz", "sensors", "edge", "hub", "alerts", "simulators"):
        assert f"COPY {package} ./{package}" in text


# -- the broker's configuration as the mosquitto container has it, on a real Mosquitto ----
# (Debian bookworm's 2.0.11 here, the version the image installs; no Docker needed)


def _broker_layout(tmp_path: Path, main_conf: str) -> tuple[Path, int, int]:
    """tmp_path/main.conf (`main_conf`, its include_dir moved to tmp_path/mz.d) and the
    shipped mosquitto.conf in tmp_path/mz.d, as compose mounts it. Returns the main file
    and the loopback and TLS ports."""
    make_test_certs(tmp_path)
    shutil.copyfile(
        _dynsec_template(require_binary("mosquitto", "mosquitto")),
        tmp_path / "dynamic-security.json",
    )
    (tmp_path / "mz.d").mkdir()
    port, tls_port = free_port(), free_port()
    (tmp_path / "mz.d" / "mz.conf").write_text(shipped_config(tmp_path, port, tls_port=tls_port))
    main = tmp_path / "main.conf"
    main.write_text(main_conf.replace("/etc/mosquitto/mz.d", str(tmp_path / "mz.d")))
    return main, port, tls_port


async def test_the_container_broker_config_serves_the_workers_over_tls(tmp_path: Path) -> None:
    """mosquitto-container.conf including the shipped file starts; a hub worker's account
    connects to the TLS listener (the workers' way in compose) and gets a dwelling's alarm
    on the shared subscription."""
    main, _, tls_port = _broker_layout(
        tmp_path, (COMPOSE_DIR / "mosquitto-container.conf").read_text()
    )
    proc = subprocess.Popen(
        [require_binary("mosquitto", "mosquitto"), "-c", str(main)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(tls_port)
        tls = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        async with aiomqtt.Client(
            "127.0.0.1",
            tls_port,
            username=HUB_USER,
            password=HUB_PASSWORD,
            identifier="hub.1",
            tls_context=tls,
        ) as hub:
            await hub.subscribe("$share/mz-hub/mz/v1/+/alarms", qos=1)
            async with aiomqtt.Client(
                "127.0.0.1",
                tls_port,
                username="dw-001",
                password=TEST_DWELLINGS["dw-001"],
                identifier="dw-001",
                tls_context=tls,
            ) as edge:
                await edge.publish("mz/v1/dw-001/alarms", b"{}", qos=1)
            async with asyncio.timeout(10):
                message = await anext(aiter(hub.messages))
        assert str(message.topic) == "mz/v1/dw-001/alarms"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode(errors="replace")
    # The container's log goes to stdout (docker compose logs): a clean start and stop.
    # The one TLS error allowed is the readiness probe's (wait_for_port connects and
    # closes without a handshake, which Mosquitto may log as an unexpected EOF).
    errors = [ln for ln in out.splitlines() if "Error" in ln and "unexpected eof" not in ln]
    assert "as hub.1" in out and not errors, out


def test_the_shipped_config_is_not_a_debian_conf_d_file(tmp_path: Path) -> None:
    """Why docs/broker.md installs it as /etc/mosquitto/mosquitto.conf: under Debian's own
    main file (which sets persistence_location and includes conf.d) Mosquitto refuses to
    start, a setting given twice."""
    # Debian bookworm's /etc/mosquitto/mosquitto.conf, its paths moved into tmp_path.
    debian = (
        f"pid_file {tmp_path}/mosquitto.pid\npersistence true\n"
        f"persistence_location {tmp_path}/\nlog_dest stdout\n"
        "include_dir /etc/mosquitto/mz.d\n"
    )
    main, _, _ = _broker_layout(tmp_path, debian)
    done = subprocess.run(
        [require_binary("mosquitto", "mosquitto"), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode != 0
    assert "Duplicate persistence_location" in done.stdout + done.stderr
