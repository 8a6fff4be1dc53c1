"""Commands from the hub, end to end on real Mosquitto (the shipped configuration, accounts
made by hub.broker_admin): the operator presses "Testalarm" on the dwelling page -> the hub
audits and sends `cmd/test_alarm` -> the real edge agent raises a test alarm through its
normal alarm path -> the hub shows it as a test and tells nobody -> the edge's answer is
on the page. The broker's ACL lets a dwelling receive only its own commands and publish
none; `mz admin command` waits for the answer."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import httpx
import pytest

from alerts.model import AlarmRecord, AlarmState, Contact
from alerts.service import AlarmService
from edge.alarm_book import AlarmKey
from edge.app import EdgeAgent
from edge.care_plan import care_plan
from hub.app import Hub
from hub.config import OPS_DB
from hub.context import Actor, Dwelling, Operator
from hub.registry import SqliteRegistry
from sensors import commands as wire
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import running_dwelling, scenario, settings_for
from tests.integration.console_client import csrf_of, login
from tests.integration.test_hub_ingest import make_settings
from tests.servers import HUB_PASSWORD, HUB_USER, TEST_DWELLINGS, Mosquitto, hub_running, wait_until

pytestmark = pytest.mark.integration

OPERATOR = ("jan", "juist-wachtwoord-42")  # test-only credentials
COORDINATOR = ("coco", "coco-wachtwoord-42")
ROOT = Path(__file__).resolve().parents[2]
NOT_AUTHORIZED = 0x80  # MQTT 3.1.1 SUBACK failure


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hub-data"
    reg = SqliteRegistry(d / OPS_DB)
    for i in (1, 2, 3):
        reg.add_dwelling(Dwelling(f"dw-{i:03d}", f"Unit {i}"))
    # A mantelzorger who would be mailed for a real alarm.
    reg.add_contact(Contact("c-1", "dw-001", "Anna", "anna@example.org"))
    reg.add_operator(Operator(OPERATOR[0], "operator", "Jan Jansen"), OPERATOR[1])
    reg.add_operator(Operator(COORDINATOR[0], "coordinator", "Coco"), COORDINATOR[1])
    reg.close()
    return d


@contextlib.asynccontextmanager
async def edge(
    mosquitto: Mosquitto, tmp_path: Path, dwelling: str
) -> AsyncIterator[SimulatedDwelling]:
    """The real agent of `dwelling` with simulated BTHome devices, its files in a
    directory of its own (the care plan and the silence book live beside the spool)."""
    own = tmp_path / dwelling
    own.mkdir()
    dw = SimulatedDwelling(
        settings_for(scenario(room_interval=0.2), mosquitto, own, dwelling),
        scenario(room_interval=0.2),
    )
    async with running_dwelling(dw):
        await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
        yield dw


@contextlib.asynccontextmanager
async def hub_and_edge(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> AsyncIterator[tuple[Hub, SimulatedDwelling, EdgeAgent, str]]:
    """A real hub with its console, and dw-001's real agent: (hub, dwelling, agent, URL)."""
    settings = make_settings(mosquitto, data_dir, console=True)
    async with hub_running(settings) as hub, edge(mosquitto, tmp_path, "dw-001") as dw:
        assert dw.agent is not None
        yield hub, dw, dw.agent, f"http://127.0.0.1:{hub.console_port}"


def service(hub: Hub) -> AlarmService:
    assert isinstance(hub.alarms, AlarmService)
    return hub.alarms


def alarms_of(hub: Hub, dwelling: str) -> list[AlarmRecord]:
    found = {a.id: a for a in service(hub).recent(100) + service(hub).open_alarms()}
    return [a for a in found.values() if a.dwelling == dwelling]


async def test_testalarm_from_the_console_arrives_marked_as_a_test_and_is_answered(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    async with (
        hub_and_edge(mosquitto, data_dir, tmp_path) as (hub, dw, agent, url),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        assert (await login(http, *OPERATOR)).status_code == 303
        page = await http.get("/dwellings/dw-001")
        assert "Controle op afstand" in page.text and ">Testalarm</button>" in page.text
        r = await http.post(
            "/dwellings/dw-001/commands/test-alarm",
            data={"csrf": csrf_of(page.text)},
            headers={"Origin": url},
        )
        assert r.status_code == 303 and "cmd=sent" in r.headers["location"]

        # The edge raised it through its normal path; the hub took it as a test.
        await wait_until(lambda: alarms_of(hub, "dw-001"), timeout=15)
        (alarm,) = alarms_of(hub, "dw-001")
        assert alarm.kind is contract.AlarmKind.PERSONAL and alarm.detail["test"] is True
        await wait_until(
            lambda: (service(hub).get(alarm.id) or alarm).state is AlarmState.RESOLVED,
            timeout=10,
        )
        # The queue's recent list names it for what it is.
        assert "Testalarm (persoonlijk alarm)" in (await http.get("/")).text
        # The edge got the hub's receipt, as for every alarm.
        await wait_until(lambda: dw.state.awaiting_receipt == 0 and dw.state.spool_depth == 0)
        assert agent.commands.stats.done == {"test_alarm": 1}

        # The answer is on the page (its live part, re-read).
        async def answered() -> bool:
            return "testalarm aangekomen om" in (await http.get("/dwellings/dw-001")).text

        deadline = time.monotonic() + 15
        while not await answered():
            assert time.monotonic() < deadline, "the answer never showed"
            await asyncio.sleep(0.1)
        listed = (await http.get("/api/v1/dwellings/dw-001/commands")).json()
        assert [(c["name"], c["state"], c["by"]) for c in listed] == [("test_alarm", "ok", "jan")]
        assert listed[0]["detail"]["alarm_id"] == alarm.id

        # Audited in the operator's name.
        (entry,) = [
            e for e in hub.registry.audit_log("dw-001") if e.action.startswith("dwelling.command")
        ]
        assert (entry.action, entry.actor, entry.source) == (
            "dwelling.command.test_alarm",
            "jan",
            "console",
        )

        # A second press within 2 min is not sent (the dwelling's alarm budget is for
        # its resident): the page says why.
        again = await http.post(
            "/dwellings/dw-001/commands/test-alarm",
            data={"csrf": csrf_of(page.text)},
            headers={"Origin": url},
        )
        assert again.status_code == 303 and "cmd=too_soon" in again.headers["location"]
        shown = await http.get(again.headers["location"])
        assert "minder dan 2 minuten geleden" in shown.text
        api_again = await http.post(
            "/api/v1/dwellings/dw-001/commands",
            json={"name": "test_alarm"},
            headers={"Origin": url, "X-CSRF-Token": csrf_of(page.text)},
        )
        assert api_again.status_code == 429 and int(api_again.headers["retry-after"]) > 60
        assert agent.commands.stats.done == {"test_alarm": 1}
        # Nobody was told: no notification for the test ... while a real press is.
        assert service(hub).store.outbox(alarm.id) == []
        dw.press("pendant-1")
        await wait_until(lambda: len(alarms_of(hub, "dw-001")) == 2, timeout=15)
        (real,) = [a for a in alarms_of(hub, "dw-001") if a.id != alarm.id]
        assert "test" not in real.detail
        await wait_until(lambda: service(hub).store.outbox(real.id) != [], timeout=15)
        assert service(hub).store.outbox(alarm.id) == []


async def test_a_test_alarm_the_hub_did_not_ask_for_is_a_real_alarm(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    settings = make_settings(mosquitto, data_dir)
    async with hub_running(settings) as hub:
        alarm = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling="dw-001",
            ts=time.time(),
            action="raise",
            alarm_id=contract.new_id(),
            kind=contract.AlarmKind.PERSONAL,
            severity=contract.Severity.HIGH,
            detail={"test": True, "command": contract.new_id()},
        )
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username="dw-001",
            password=TEST_DWELLINGS["dw-001"],
            identifier="dw-001",
        ) as client:
            await client.publish(*contract.encode(alarm), qos=1)
        await wait_until(lambda: service(hub).get(alarm.alarm_id) is not None, timeout=10)
        rec = service(hub).get(alarm.alarm_id)
        assert rec is not None and rec.detail["test_unverified"] is True
        assert rec.state is not AlarmState.RESOLVED
        await wait_until(lambda: service(hub).store.outbox(alarm.alarm_id) != [], timeout=15)


async def test_a_dwelling_receives_only_its_own_commands_and_publishes_none(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    async with hub_and_edge(mosquitto, data_dir, tmp_path) as (hub, dw, agent, _url):
        assert hub.context.commands is not None
        handler = agent.commands
        # dw-002's credentials: it may neither read dw-001's commands nor send any.
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username="dw-002",
            password=TEST_DWELLINGS["dw-002"],
            identifier="dw-002",
            timeout=5,
        ) as rogue:
            refused = await rogue.subscribe("mz/v1/dw-001/cmd/+", qos=1)
            assert list(refused) == [NOT_AUTHORIZED]
            assert list(await rogue.subscribe("mz/v1/dw-002/cmd/+", qos=1)) == [1]
            for target in ("dw-001", "dw-002"):  # a forged test alarm, to either dwelling
                forged = wire.command(target, wire.TEST_ALARM, time.time())
                await rogue.publish(*contract.encode(forged), qos=1)  # dropped by the broker
            # The hub's commands: dw-001's reaches dw-001's agent, dw-002's reaches dw-002.
            actor = Actor("jan", "operator", "api")
            sent = await hub.context.commands.send("dw-001", wire.STATUS_REPORT, {}, actor)
            mine = await hub.context.commands.send("dw-002", wire.STATUS_REPORT, {}, actor)
            async with asyncio.timeout(10):
                async for got in rogue.messages:
                    _, cmd = contract.decode(str(got.topic), got.payload)
                    # The hub's resend request (sent as its alarm session comes up, beside
                    # the alarm loop) may come first; it is the hub's too.
                    if not (
                        isinstance(cmd, contract.Command) and cmd.name == contract.RESEND_COMMAND
                    ):
                        break
            assert cmd.id == mine.id  # its own first: not its forgery, not dw-001's
        await wait_until(lambda: bool(handler.stats.done), timeout=10)
        # The agent carried out the hub's command only: no forged test alarm.
        assert handler.stats.received == 1 and handler.stats.done == {"status_report": 1}
        assert dw.state.alarms_raised == 0 and not alarms_of(hub, "dw-001")
        assert sent.id != mine.id


async def test_mz_admin_command_waits_for_the_answer(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(mosquitto, data_dir)
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""[broker]
url = "{mosquitto.url}"
username = "{HUB_USER}"
password = "{HUB_PASSWORD}"
client_id = "hub.cli"
[data]
dir = "{data_dir}"
"""
    )

    async def mz(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mz", "admin", "command", *args, "--config", str(config),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode()

    async with hub_running(settings), edge(mosquitto, tmp_path, "dw-001") as dw:
        assert dw.agent is not None
        # Nothing of room-1's is open: refused, with the reason, exit 1.
        code, out = await mz("dw-001", "silence", "--key", "room-1", "--duration", "3600")
        assert code == 1, out
        assert '"result": "refused"' in out and "nothing_open" in out
        (silent,) = dw.agent.pipeline.book.on(
            AlarmKey("supervision", "sensor_silent", "room-1"),
            contract.AlarmKind.TECHNICAL,
            contract.Severity.MEDIUM,
            time.time(),
            {"key": "sensor_silent"},
        )
        code, out = await mz("dw-001", "silence", "--key", "room-1", "--duration", "3600")
        assert code == 0, out
        assert '"result": "ok"' in out and '"key": "room-1"' in out
        assert [e.alarm_id for e in dw.agent.pipeline.book.silenced(time.time())] == [
            silent.alarm_id
        ]
        code, out = await mz(
            "dw-001",
            "care-plan",
            "--news2-scale",
            "2",
            "--rule",
            "spo2_dip:spo2:below_baseline:3:2",
        )
        assert code == 0, out
        assert '"news2_scale": 2' in out and '"trend_rules": "spo2_dip"' in out
        # Refused at the hub already (the edge would refuse it too): nothing is sent.
        code, out = await mz("dw-001", "silence", "--key", "room-1", "--duration", "-5")
        assert code == 2 and "duration_s" in out
        # A dwelling that is not online gets nothing and never answers.
        code, out = await mz("dw-002", "status-report", "--wait", "1")
        assert code == 3 and "no answer" in out
        assert dw.agent.commands.stats.received == 3  # the refused silence, the silence, the plan


async def test_the_api_checks_role_dwelling_and_arguments_before_sending(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    async with hub_and_edge(mosquitto, data_dir, tmp_path) as (hub, _dw, agent, url):
        async with httpx.AsyncClient(base_url=url, auth=OPERATOR, timeout=10) as api:
            path = "/api/v1/dwellings/dw-001/commands"
            plan = {"name": "care_plan", "args": {"news2_scale": 2}}
            assert (await api.post(path, json=plan)).status_code == 403  # an operator's
            bad = {"name": "silence", "args": {"key": "room-1", "duration_s": 10**9}}
            r = await api.post(path, json=bad)
            assert r.status_code == 422 and "duration_s" in r.text
            unknown = await api.post(path, json={"name": "reboot"})
            assert unknown.status_code == 422 and "unknown_command" in unknown.text
            missing = "/api/v1/dwellings/dw-404/commands"
            assert (await api.post(missing, json={"name": "status_report"})).status_code == 404
            r = await api.post(path, json={"name": "status_report"})
            assert r.status_code == 202, r.text
            sent = r.json()["id"]

            async def state() -> str:
                (c,) = (await api.get(path)).json()
                assert c["id"] == sent
                return str(c["state"])

            assert await state() in ("waiting", "ok")
            await wait_until(lambda: bool(agent.commands.stats.done), 10)
            deadline = time.monotonic() + 10
            while await state() != "ok":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            (c,) = (await api.get(path)).json()
            assert c["detail"]["sensors_failed"] == 0 and c["detail"]["agent_version"]
        # Only what passed the checks was audited and sent.
        entries = [e for e in hub.registry.audit_log("dw-001") if "command" in e.action]
        assert [e.action for e in entries] == ["dwelling.command.status_report"]
        assert agent.commands.stats.received == 1


async def test_a_care_plan_change_on_the_resident_card_reaches_the_edge(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    async with hub_and_edge(mosquitto, data_dir, tmp_path) as (_hub, _dw, agent, url):
        handler = agent.commands
        assert (handler.plan.news2_scale, handler.plan.on_oxygen) == (1, False)
        async with httpx.AsyncClient(base_url=url, auth=COORDINATOR, timeout=10) as api:
            card = "/api/v1/dwellings/dw-001/resident"
            r = await api.patch(card, json={"news2_scale": 2, "on_oxygen": True})
            assert r.status_code == 200, r.text
            await wait_until(lambda: handler.plan.news2_scale == 2, timeout=10)
            assert handler.plan.on_oxygen is True
            # Saved at the edge: a restarted agent scores with it.
            assert care_plan(agent.settings).news2_scale == 2
            # A change elsewhere on the card sends nothing.
            assert (await api.patch(card, json={"phone": "0612345678"})).status_code == 200
            (c,) = (await api.get("/api/v1/dwellings/dw-001/commands")).json()
            assert (c["name"], c["by"]) == ("care_plan", "coco")
            await wait_until(lambda: handler.stats.done == {"care_plan": 1}, timeout=10)


async def test_a_malformed_command_is_counted_and_the_next_one_still_served(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    async with hub_and_edge(mosquitto, data_dir, tmp_path) as (hub, _dw, agent, _url):
        assert hub.context.commands is not None
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username=HUB_USER, password=HUB_PASSWORD, timeout=5
        ) as as_hub:
            await as_hub.publish("mz/v1/dw-001/cmd/test_alarm", b"{not json", qos=1)
            other = wire.command("dw-002", wire.TEST_ALARM, time.time())  # another's body
            await as_hub.publish("mz/v1/dw-001/cmd/test_alarm", other.model_dump_json(), qos=1)
        actor = Actor("jan", "operator", "api")
        await hub.context.commands.send("dw-001", wire.STATUS_REPORT, {}, actor)
        await wait_until(lambda: bool(agent.commands.stats.done), timeout=10)
        assert agent.commands.stats.malformed == {"bad_json": 1, "dwelling_mismatch": 1}
        assert agent.commands.stats.done == {"status_report": 1}
        assert agent.state.alarms_raised == 0
        assert agent.state.commands_refused == {"bad_json": 1, "dwelling_mismatch": 1}
