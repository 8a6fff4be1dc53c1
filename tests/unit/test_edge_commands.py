"""Hub commands at the edge (edge.commands): each carried out, refused or counted, and
answered with a `command_ack` event through the spool; the silence book and the care plan
persist across a restart of the agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.alarm_book import AlarmBook, AlarmKey
from edge.app import EdgeAgent
from edge.care_plan import care_plan, care_plan_path
from edge.commands import CommandHandler
from edge.config import EdgeSettings, load_settings
from edge.detectors.news2 import SpO2Scale
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from edge.trends_adapter import TrendsAdapter
from edge.vitals_adapter import VitalsAdapter
from sensors import commands as wire
from sensors import contract
from sensors.codecs.bthome import SERVICE_UUID
from sensors.readings import Advertisement

T0 = 1_800_000_000.0


@pytest.fixture
def settings(tmp_path: Path) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        spool={"path": str(tmp_path / "spool.sqlite")},
        devices=[
            {"id": "pendant-1", "kind": "pendant", "address": "A4:C1:38:00:00:01"},
            {"id": "vitals-1", "kind": "vitals", "transport": "serial", "port": "/dev/ttyV"},
        ],
    )


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def spool(settings: EdgeSettings) -> Iterator[Spool]:
    with Spool(settings.spool.path, max_messages=1000, max_bytes=10**7) as s:
        yield s


def make(settings: EdgeSettings, spool: Spool, clock: Clock) -> CommandHandler:
    health = HealthTracker(((d.id, d.kind, 300.0) for d in settings.devices), T0)
    detectors = [VitalsAdapter.from_settings(settings), TrendsAdapter.from_settings(settings)]
    outbox = Outbox(spool)
    pipeline = Pipeline(settings, outbox, health, detectors=[d for d in detectors if d])
    return CommandHandler(
        settings,
        pipeline,
        outbox,
        lambda now: {"spool_depth": spool.depth},
        clock=clock,
    )


def spooled(spool: Spool) -> list[contract.Message]:
    return [contract.decode(i.topic, i.payload)[1] for i in spool.peek(1000)]


def acks(spool: Spool) -> list[wire.CommandAck]:
    out = []
    for m in spooled(spool):
        if isinstance(m, contract.Event):
            ack = wire.read_ack(m.kind, m.ts, dict(m.detail))
            if ack is not None:
                out.append(ack)
    return out


def cmd(
    name: str, args: dict[str, contract.DetailValue] | None = None, ts: float = T0
) -> contract.Command:
    return wire.command("dw-001", name, ts, args)


def test_test_alarm_goes_the_normal_alarm_path_marked_and_acked(
    settings: EdgeSettings, spool: Spool
) -> None:
    handler = make(settings, spool, Clock(T0 + 2))
    c = cmd(wire.TEST_ALARM)
    handler.handle(c)
    alarms = [m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]
    (alarm,) = alarms
    assert alarm.action == "raise" and alarm.kind is contract.AlarmKind.PERSONAL
    assert wire.is_test_alarm(dict(alarm.detail)) == c.id
    # Kept until the hub's receipt, like every alarm.
    (row,) = [i for i in spool.peek(10) if i.receipt_id is not None]
    assert row.receipt_id == alarm.id
    (ack,) = acks(spool)
    assert (ack.command, ack.name, ack.result, ack.reason) == (c.id, "test_alarm", "ok", "")
    assert ack.detail["alarm_id"] == alarm.alarm_id
    assert handler.stats.done == {"test_alarm": 1}


def test_delivered_twice_is_carried_out_once(settings: EdgeSettings, spool: Spool) -> None:
    handler = make(settings, spool, Clock(T0))
    c = cmd(wire.TEST_ALARM)
    handler.handle(c)
    handler.handle(c)
    assert len([m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]) == 1
    assert len(acks(spool)) == 1 and handler.stats.duplicates == 1


@pytest.mark.parametrize(
    ("name", "args", "ts", "reason"),
    [
        ("reboot", {}, T0, "unknown_command"),
        ("test_alarm", {"loud": True}, T0, "bad_args"),
        ("test_alarm", {}, T0 - wire.MAX_COMMAND_AGE_S - 1, "stale"),
        ("silence", {"key": "bed-1"}, T0, "bad_args"),
        ("silence", {"key": "bed-1", "duration_s": wire.MAX_SILENCE_S + 1}, T0, "bad_args"),
        ("silence", {"key": "Bed 1", "duration_s": 60}, T0, "bad_args"),
        ("silence", {"key": "bed-1", "duration_s": True}, T0, "bad_args"),
        ("care_plan", {}, T0, "bad_args"),
        ("care_plan", {"news2_scale": 3}, T0, "bad_args"),
        ("care_plan", {"on_oxygen": 1}, T0, "bad_args"),
        ("care_plan", {"rule_1": "a:spo2:robust_z:3:2"}, T0, "bad_args"),
        ("care_plan", {"trend_rules": "custom", "rule_2": "a:spo2:robust_z:3:2"}, T0, "bad_args"),
        ("care_plan", {"trend_rules": "custom", "rule_1": "a:spo2:robust_z"}, T0, "bad_args"),
        # The format is fine, the values are not: refused by the edge's own config model.
        ("care_plan", {"trend_rules": "custom", "rule_1": "a:pulse:robust_z:3:2"}, T0, "bad_args"),
        ("care_plan", {"trend_rules": "custom", "rule_1": "a:spo2:robust_z:3:99"}, T0, "bad_args"),
        ("care_plan", {"trend_rules": "custom", "rule_1": "a:spo2:robust_z:nan:2"}, T0, "bad_args"),
    ],
)
def test_unknown_or_malformed_commands_are_refused_answered_and_counted(
    settings: EdgeSettings,
    spool: Spool,
    name: str,
    args: dict[str, contract.DetailValue],
    ts: float,
    reason: str,
) -> None:
    handler = make(settings, spool, Clock(T0))
    plan_before = handler.plan
    handler.handle(cmd(name, args, ts))
    (ack,) = acks(spool)
    assert ack.result == "refused" and ack.reason.startswith(f"{reason}: ")
    assert handler.stats.refused == {reason: 1} and not handler.stats.done
    assert not [m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]
    assert handler.plan == plan_before and not care_plan_path(settings).exists()


def test_payloads_the_contract_refuses_are_counted(settings: EdgeSettings, spool: Spool) -> None:
    handler = make(settings, spool, Clock(T0))
    handler.malformed("bad_json")
    handler.malformed("bad_json")
    assert handler.stats.malformed == {"bad_json": 2}
    assert handler.stats.as_detail()["commands_refused"] == 2


SILENT = AlarmKey("supervision", "sensor_silent", "vitals-1")


def raise_silent(handler: CommandHandler, t: float) -> str:
    (msg,) = handler.pipeline.book.on(
        SILENT, contract.AlarmKind.TECHNICAL, contract.Severity.MEDIUM, t, {"key": "s"}
    )
    return msg.alarm_id


def test_silence_quiets_the_sensors_technical_alarm_across_a_restart_and_ends(
    settings: EdgeSettings, spool: Spool
) -> None:
    clock = Clock(T0)
    handler = make(settings, spool, clock)
    alarm_id = raise_silent(handler, T0)
    handler.handle(cmd(wire.SILENCE, wire.silence_args("vitals-1", 3600)))
    (ack,) = acks(spool)
    assert ack.result == "ok"
    assert ack.detail == {"key": "vitals-1", "until": T0 + 3600, "alarms": 1}
    cancels = [m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]
    assert [(m.action, m.alarm_id) for m in cancels][-1] == ("cancel", alarm_id)
    # A restarted agent reads the same book: still silent within the hour, nothing raised.
    book = AlarmBook(Outbox(spool), "dw-001")
    assert (
        book.on(SILENT, contract.AlarmKind.TECHNICAL, contract.Severity.MEDIUM, T0 + 60, {}) == []
    )
    # Duration 0 lifts it: the condition still holding is a new alarm at once.
    clock.t = T0 + 10
    handler.handle(cmd(wire.SILENCE, wire.silence_args("vitals-1", 0), ts=T0 + 10))
    assert acks(spool)[-1].result == "ok"
    again = raise_silent(handler, T0 + 20)
    assert again != alarm_id


def test_silence_by_alarm_id_and_a_care_alarm_is_never_silenced(
    settings: EdgeSettings, spool: Spool
) -> None:
    handler = make(settings, spool, Clock(T0))
    alarm_id = raise_silent(handler, T0)
    handler.handle(cmd(wire.SILENCE, wire.silence_args(alarm_id, 600)))
    assert acks(spool)[-1].result == "ok"
    handler.pipeline.book.on(
        AlarmKey("vitals", "news2"), contract.AlarmKind.VITALS, contract.Severity.HIGH, T0, {}
    )
    handler.handle(cmd(wire.SILENCE, wire.silence_args("vitals", 600)))
    refused = acks(spool)[-1]
    assert refused.result == "refused" and refused.reason.startswith("nothing_open: ")
    assert [e.key.detector for e in handler.pipeline.book.open_alarms()] == ["vitals"]


def test_silence_with_nothing_open_is_refused(settings: EdgeSettings, spool: Spool) -> None:
    handler = make(settings, spool, Clock(T0))
    handler.handle(cmd(wire.SILENCE, wire.silence_args("bed-1", 60)))
    (ack,) = acks(spool)
    assert ack.result == "refused" and ack.reason.startswith("nothing_open: ")


def test_care_plan_is_applied_now_and_after_a_restart(settings: EdgeSettings, spool: Spool) -> None:
    handler = make(settings, spool, Clock(T0))
    vitals, trends = handler.pipeline.detectors
    assert isinstance(vitals, VitalsAdapter) and isinstance(trends, TrendsAdapter)
    before = vitals.pipeline.cfg
    assert before.scale is SpO2Scale.SCALE_1
    rule = wire.RuleSpec("spo2_low", "spo2", "below_baseline", 3.0, 2, "high")
    handler.handle(
        cmd(wire.CARE_PLAN, wire.care_plan_args(news2_scale=2, on_oxygen=True, rules=(rule,)))
    )
    (ack,) = acks(spool)
    assert ack.result == "ok"
    assert ack.detail == {"news2_scale": 2, "on_oxygen": True, "trend_rules": "spo2_low"}
    # In force at once ...
    after = vitals.pipeline.cfg
    assert after.scale is SpO2Scale.SCALE_2 and after.on_oxygen
    assert [r.name for r in trends.detector.cfg.rules] == ["spo2_low"]
    assert trends.detector.cfg.rules[0].delta == 3.0
    # ... and after a restart: the adapters read the saved plan.
    again = VitalsAdapter.from_settings(settings)
    assert again is not None and again.pipeline.cfg.scale is SpO2Scale.SCALE_2
    assert again.pipeline.cfg.on_oxygen is True
    trends_again = TrendsAdapter.from_settings(settings)
    assert trends_again is not None
    assert [r.name for r in trends_again.detector.cfg.rules] == ["spo2_low"]
    # A partial update keeps the rest; "default" brings the default rules back.
    handler.handle(cmd(wire.CARE_PLAN, wire.care_plan_args(on_oxygen=False, rules="default")))
    plan = care_plan(settings)
    assert (plan.news2_scale, plan.on_oxygen, plan.rules) == (2, False, None)
    assert len(trends.detector.cfg.rules) > 1


def test_a_corrupt_care_plan_falls_back_to_the_configured_one(settings: EdgeSettings) -> None:
    path = care_plan_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "news2_scale": 5, "on_oxygen": True}))
    plan = care_plan(settings)
    assert (plan.news2_scale, plan.on_oxygen, plan.rules) == (1, False, None)
    assert path.with_suffix(".json.bad").exists()


def test_status_report_answers_with_the_agents_figures(settings: EdgeSettings) -> None:
    agent = EdgeAgent(settings, drivers=[], clock=Clock(T0))
    try:
        # The pendant's battery at 167 % (BTHome byte 0xa7): refused at the boundary, and
        # the report is where an operator sees it counted.
        frame = bytes.fromhex("40 00 01 01 a7")
        agent.pipeline.handle(Advertisement("A4:C1:38:00:00:01", {SERVICE_UUID: frame}, -60, T0))
        agent.commands.handle(cmd(wire.STATUS_REPORT))
        (ack,) = acks(agent.spool)
        assert ack.result == "ok"
        d = ack.detail
        assert d["agent_version"] and d["spool_depth"] == 0 and d["sensors_failed"] == 0
        assert d["news2_scale"] == 1 and d["commands_refused"] == 0 and d["silenced"] == 0
        assert d["implausible"] == 1 and d["replays"] == 0
        assert agent.state.commands_done == {"status_report": 1}
    finally:
        agent.spool.close()


def test_rule_text_round_trip() -> None:
    rule = wire.RuleSpec("hr_up", "resting_hr", "above_baseline", 7.5, 3, "medium")
    assert wire.parse_rule(rule.encode()) == rule
    assert wire.parse_rule("hr_up:resting_hr:above_baseline:7.5:3").severity == "medium"


def test_a_command_that_trips_a_bug_is_answered_not_fatal(
    settings: EdgeSettings, spool: Spool
) -> None:
    handler = make(settings, spool, Clock(T0))

    def broken(now: float) -> dict[str, contract.DetailValue]:
        raise KeyError("oops")

    handler.report = broken
    handler.handle(cmd(wire.STATUS_REPORT))
    (ack,) = acks(spool)
    assert ack.result == "refused" and ack.reason == "failed: KeyError"
    assert handler.stats.refused == {"failed": 1}
