"""`mz admin command DWELLING NAME`: send a command to a dwelling's edge and wait for its
answer (hub.commands; the names and arguments are sensors.commands').

    mz admin command dw-001 test-alarm
    mz admin command dw-001 silence --key bed-1 --duration 3600
    mz admin command dw-001 care-plan --news2-scale 2 --oxygen \\
        --rule spo2_low:spo2:below_baseline:3:2:high
    mz admin command dw-001 status-report

Needs the hub's TOML file (its broker account and operational store). Audited as the OS
user with source `cli`. Exit 0: done at the edge; 1: refused (the reason is printed);
3: no answer within --wait (the dwelling may be offline: commands are not queued).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from sensors.contract import DetailValue

POLL_S = 0.2


def command(
    dwelling: Annotated[str, typer.Argument(help="The dwelling's id.")],
    name: Annotated[str, typer.Argument(help="test-alarm, silence, care-plan or status-report.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The hub's TOML file.")] = Path(
        "/etc/mz/hub.toml"
    ),
    key: Annotated[
        str | None, typer.Option(help="silence: the sensor id or technical alarm key.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="silence: seconds (0 lifts the silence).")
    ] = None,
    news2_scale: Annotated[int | None, typer.Option(help="care-plan: SpO2 scale 1 or 2.")] = None,
    oxygen: Annotated[
        bool | None, typer.Option("--oxygen/--no-oxygen", help="care-plan: on oxygen.")
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(help="care-plan: a trend rule name:metric:kind:delta:days[:severity]."),
    ] = None,
    default_rules: Annotated[
        bool,
        typer.Option("--default-rules", help="care-plan: back to the agent's default trend rules."),
    ] = False,
    no_rules: Annotated[
        bool, typer.Option("--no-rules", help="care-plan: no trend rules at all.")
    ] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the edge's answer.")] = 30.0,
) -> None:
    """Send a command to a dwelling's edge agent and print its answer."""
    from hub.admin_cli import _cli_actor, _fail
    from hub.commands import CommandSender, recent_commands
    from hub.config import load_settings
    from hub.errors import HubError
    from hub.event_log import SqlEventStore
    from hub.registry import Registry
    from hub.sql.schema import open_store
    from sensors import commands as wire
    from sensors.errors import CommandRefused

    wire_name = name.replace("-", "_")
    args: dict[str, DetailValue] = {}
    if wire_name == wire.SILENCE:
        if key is None or duration is None:
            raise _fail("silence needs --key and --duration")
        args = wire.silence_args(key, duration)
    elif wire_name == wire.CARE_PLAN:
        rules: tuple[wire.RuleSpec, ...] | Literal["default"] | None = None
        if default_rules:
            rules = "default"
        elif no_rules:
            rules = ()
        elif rule:
            try:
                rules = tuple(wire.parse_rule(r) for r in rule)
            except CommandRefused as exc:
                raise _fail(f"--rule: {exc.detail}") from None
        args = wire.care_plan_args(news2_scale=news2_scale, on_oxygen=oxygen, rules=rules)
    try:
        settings = load_settings(config)
        engine = open_store(settings.sql_url)
    except HubError as exc:
        raise _fail(str(exc)) from None
    try:
        registry = Registry(engine)
        events = SqlEventStore(engine)

        async def run() -> int:
            sender = CommandSender(settings.broker, registry, time.time)
            cmd = await sender.send(dwelling, wire_name, args, _cli_actor())
            print(f"sent {wire_name} to {dwelling} (command {cmd.id})")
            deadline = time.monotonic() + wait
            while True:
                found = [
                    c
                    for c in await recent_commands(registry, events, dwelling, time.time(), 50)
                    if c.id == cmd.id
                ]
                ack = found[0].ack if found else None
                if ack is not None:
                    print(json.dumps({"result": ack.result, "reason": ack.reason, **ack.detail}))
                    return 0 if ack.result == "ok" else 1
                if time.monotonic() >= deadline:
                    print(f"no answer within {wait:.0f} s", file=sys.stderr)
                    return 3
                await asyncio.sleep(POLL_S)

        code = asyncio.run(run())
    except HubError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    raise typer.Exit(code)
