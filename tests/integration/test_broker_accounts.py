"""`mz broker` against the shipped Mosquitto with its dynamic-security plugin: accounts,
what each may do, and that the dwelling tooling cannot touch a hub account."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from hub.broker_admin import BrokerAdminError
from tests.servers import ADMIN_PASSWORD, HUB_PASSWORD, HUB_USER, Mosquitto

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def mz_broker(mosquitto: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mz", "broker", "--broker", mosquitto.url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"MZ_BROKER_ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )


def password_of(out: str) -> str:
    return next(line.split(": ", 1)[1] for line in out.splitlines() if "password:" in line)


async def test_add_dwelling_prints_credentials_that_work_for_its_own_topics_only(
    mosquitto: Mosquitto,
) -> None:
    made = mz_broker(mosquitto, "add-dwelling", "dw-017")
    assert made.returncode == 0, made.stderr
    password = password_of(made.stdout)
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username="dw-017", password=password, identifier="dw-017"
    ) as dw:
        await dw.subscribe("mz/v1/dw-017/cmd/+", qos=1)
    # Not with another client id (the account binds it).
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username="dw-017", password=password, identifier="x-17"
        ):
            pass


def test_the_dwelling_tooling_cannot_create_or_reset_a_hub_account(mosquitto: Mosquitto) -> None:
    for name in (HUB_USER, "hub.2", "Hub", "mz-admin"):
        out = mz_broker(mosquitto, "add-dwelling", name, "--reset-password")
        assert out.returncode == 2, (name, out.stdout)
        assert "not a pseudonymous dwelling id" in out.stderr or "not a dwelling" in out.stderr
    # The hub's password is unchanged.
    assert mosquitto.admin().account(HUB_USER) is not None
    # Even a hub account someone made by hand under a dwelling-like name is refused.
    admin = mosquitto.admin()
    admin.run(
        [
            {"command": "createClient", "username": "hub", "password": "x-long-password"},
            {"command": "addClientRole", "username": "hub", "rolename": "mz-hub"},
        ]
    )
    with pytest.raises(BrokerAdminError, match="not a dwelling account"):
        admin.add_dwelling("hub", reset=True)


def test_an_existing_dwelling_is_reset_only_when_asked(mosquitto: Mosquitto) -> None:
    again = mz_broker(mosquitto, "add-dwelling", "dw-001")
    assert again.returncode == 2 and "--reset-password" in again.stderr
    reset = mz_broker(mosquitto, "add-dwelling", "dw-001", "--reset-password")
    assert reset.returncode == 0, reset.stderr
    assert password_of(reset.stdout) != "pw-dw-001"


def test_add_hub_takes_only_hub_names(mosquitto: Mosquitto) -> None:
    assert mz_broker(mosquitto, "add-hub", "dw-003").returncode == 2
    made = mz_broker(mosquitto, "add-hub", "hub.2")
    assert made.returncode == 0, made.stderr
    listed = mz_broker(mosquitto, "list")
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()}
    assert rows["hub.2"] == "hub" and rows["dw-001"] == "dwelling"


def test_a_wrong_admin_password_is_one_clear_line(mosquitto: Mosquitto) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mz", "broker", "--broker", mosquitto.url, "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"MZ_BROKER_ADMIN_PASSWORD": "wrong", "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("mz broker: list: broker refused the admin login")
    assert "Traceback" not in out.stderr


async def test_disabling_a_stolen_pi_drops_it_at_once_and_keeps_it_out(
    mosquitto: Mosquitto,
) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username="dw-002", password="pw-dw-002", identifier="dw-002"
    ) as dw:
        out = mz_broker(mosquitto, "disable", "dw-002")
        assert out.returncode == 0, out.stderr
        with pytest.raises(aiomqtt.MqttError):
            async with asyncio.timeout(10):
                async for _ in dw.messages:  # ends when the broker drops the connection
                    pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username="dw-002",
            password="pw-dw-002",
            identifier="dw-002",
        ):
            pass
    assert mz_broker(mosquitto, "enable", "dw-002").returncode == 0
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username="dw-002", password="pw-dw-002", identifier="dw-002"
    ):
        pass
    # The hub account is untouched throughout.
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username=HUB_USER, password=HUB_PASSWORD
    ) as hub:
        await hub.subscribe("mz/v1/+/alarms", qos=1)
