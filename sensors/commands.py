"""Hub -> edge commands and the edge's acknowledgements (wire contract v1; pure).

A command is a `contract.Command` on `mz/v1/{dwelling}/cmd/{name}` (QoS 1), sent by the hub
only: the broker's ACL lets a dwelling receive its own commands and publish none. Besides
the transport's own `receipt` and `resend` (`sensors.contract`), the edge acts on:

    name            args                                            what the edge does
    test_alarm      -                                               raises a test alarm through
                                                                    its normal alarm path
    silence         key (a sensor id or technical alarm key),       silences that technical
                    duration_s (0 lifts it; at most MAX_SILENCE_S)  trouble until now + duration
    care_plan       news2_scale (1|2), on_oxygen (bool),            persists and applies the
                    trend_rules ("default"|"custom"),               care plan (absent: kept)
                    rule_1..rule_N ("name:metric:kind:delta:days:severity")
    status_report   -                                               answers with its figures

Every one of them is answered with an `Event` of kind ACK_EVENT on `mz/v1/{dwelling}/events`
(spooled like every event, so the answer survives an outage), flat detail:

    command  the command's message id        name    its name
    result   "ok" or "refused"               reason  why refused ("" when ok)
    ...      what the command produced (the test alarm's id, the silence's end, a report)

A test alarm is an ordinary `AlarmMessage` (kind personal, severity high: the path the
pendant takes) whose detail carries `test = true` and `command = <the command's id>`. The
hub handles it as a test only if it sent that test command to that dwelling; it never
notifies a contact or the alarm centre of one.

Pure: no I/O, no clock; times come in as arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from sensors.contract import (
    MAX_DETAIL_KEYS,
    Command,
    DetailValue,
    Event,
    is_pseudo_id,
    new_id,
)
from sensors.errors import CommandRefused

TEST_ALARM: Final = "test_alarm"
SILENCE: Final = "silence"
CARE_PLAN: Final = "care_plan"
STATUS_REPORT: Final = "status_report"
COMMANDS: Final = (TEST_ALARM, SILENCE, CARE_PLAN, STATUS_REPORT)

ACK_EVENT: Final = "command_ack"
Result = Literal["ok", "refused"]

# In a test alarm's detail.
TEST_KEY: Final = "test"
COMMAND_KEY: Final = "command"

MAX_SILENCE_S: Final = 7 * 86400.0  # a week: longer is a sensor to remove, not to silence
# A command older than this when it arrives is refused ("stale"): the edge keeps no
# session, so only a broker's or a clock's hiccup delivers one this late, and a test
# alarm the operator stopped waiting for would only confuse.
MAX_COMMAND_AGE_S: Final = 900.0
# Keys the ack reserves; the rest of the detail is the command's own (<= 28 keys).
_ACK_KEYS: Final = ("command", "name", "result", "reason")
MAX_RULES: Final = MAX_DETAIL_KEYS - 3  # rule_1.. beside news2_scale, on_oxygen, trend_rules


@dataclass(frozen=True, slots=True)
class TestAlarm:
    pass


@dataclass(frozen=True, slots=True)
class Silence:
    key: str
    duration_s: float  # 0: lift the silence


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A trend rule as the hub sends it; the edge checks the values (its config model)."""

    name: str
    metric: str
    kind: str
    delta: float
    days: int
    severity: str = "medium"

    def encode(self) -> str:
        return f"{self.name}:{self.metric}:{self.kind}:{self.delta:g}:{self.days}:{self.severity}"


@dataclass(frozen=True, slots=True)
class CarePlanUpdate:
    news2_scale: int | None = None  # None: keep
    on_oxygen: bool | None = None
    # None: keep; "default": the agent's defaults; a tuple (maybe empty): these rules
    rules: tuple[RuleSpec, ...] | Literal["default"] | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    pass


Action = TestAlarm | Silence | CarePlanUpdate | StatusReport


def _bad(detail: str) -> CommandRefused:
    return CommandRefused("bad_args", detail)


def _only(cmd: Command, allowed: set[str]) -> None:
    extra = sorted(set(cmd.args) - allowed)
    if extra:
        raise _bad(f"unknown argument {extra[0]!r:.50}")


def parse_rule(text: str) -> RuleSpec:
    """`name:metric:kind:delta:days[:severity]` -> RuleSpec (format only)."""
    parts = text.split(":")
    if len(parts) not in (5, 6):
        raise _bad(f"a rule is name:metric:kind:delta:days[:severity], not {text!r:.60}")
    try:
        delta, days = float(parts[3]), int(parts[4])
    except ValueError as exc:
        raise _bad(f"rule {parts[0]!r:.40}: delta and days must be numbers") from exc
    if not math.isfinite(delta):
        raise _bad(f"rule {parts[0]!r:.40}: delta must be finite")
    severity = parts[5] if len(parts) == 6 else "medium"
    return RuleSpec(parts[0], parts[1], parts[2], delta, days, severity)


def _care_plan(cmd: Command) -> CarePlanUpdate:
    args = cmd.args
    rule_keys = {f"rule_{i}" for i in range(1, MAX_RULES + 1)}
    _only(cmd, {"news2_scale", "on_oxygen", "trend_rules"} | rule_keys)
    scale = args.get("news2_scale")
    if scale is not None and (type(scale) is not int or scale not in (1, 2)):
        raise _bad("news2_scale must be 1 or 2")
    oxygen = args.get("on_oxygen")
    if oxygen is not None and type(oxygen) is not bool:
        raise _bad("on_oxygen must be true or false")
    mode = args.get("trend_rules")
    given = sorted((k for k in args if k in rule_keys), key=lambda k: int(k[5:]))
    rules: tuple[RuleSpec, ...] | Literal["default"] | None = None
    if mode is None:
        if given:
            raise _bad("rule_N needs trend_rules = 'custom'")
    elif mode == "default":
        if given:
            raise _bad("trend_rules = 'default' takes no rule_N")
        rules = "default"
    elif mode == "custom":
        if given != [f"rule_{i}" for i in range(1, len(given) + 1)]:
            raise _bad("rules are numbered rule_1, rule_2, ... without gaps")
        specs: list[RuleSpec] = []
        for key in given:
            text = args[key]
            if not isinstance(text, str):
                raise _bad(f"{key} must be text")
            specs.append(parse_rule(text))
        names = [r.name for r in specs]
        if len(names) != len(set(names)):
            raise _bad("rule names must be unique")
        rules = tuple(specs)
    else:
        raise _bad("trend_rules must be 'default' or 'custom'")
    if scale is None and oxygen is None and rules is None:
        raise _bad("a care plan update names news2_scale, on_oxygen or trend_rules")
    return CarePlanUpdate(scale, oxygen, rules)


def _silence(cmd: Command) -> Silence:
    _only(cmd, {"key", "duration_s"})
    key, duration = cmd.args.get("key"), cmd.args.get("duration_s")
    if not isinstance(key, str) or not is_pseudo_id(key):
        raise _bad("key must be a sensor id or a technical alarm key")
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise _bad("duration_s must be a number of seconds")
    if not 0 <= duration <= MAX_SILENCE_S:
        raise _bad(f"duration_s must be 0 (lift) to {MAX_SILENCE_S:.0f}")
    return Silence(key, float(duration))


def parse(cmd: Command, now: float) -> Action:
    """What the command asks, or CommandRefused (`unknown_command`, `bad_args`, `stale`)."""
    if cmd.ts < now - MAX_COMMAND_AGE_S:
        raise CommandRefused("stale", f"made {now - cmd.ts:.0f} s ago")
    if cmd.name == TEST_ALARM:
        _only(cmd, set())
        return TestAlarm()
    if cmd.name == STATUS_REPORT:
        _only(cmd, set())
        return StatusReport()
    if cmd.name == SILENCE:
        return _silence(cmd)
    if cmd.name == CARE_PLAN:
        return _care_plan(cmd)
    raise CommandRefused("unknown_command", f"no command {cmd.name!r}")


# -- building commands (the hub) ---------------------------------------------------------


def command(
    dwelling: str, name: str, ts: float, args: dict[str, DetailValue] | None = None
) -> Command:
    return Command(id=new_id(), dwelling=dwelling, ts=ts, name=name, args=args or {})


def silence_args(key: str, duration_s: float) -> dict[str, DetailValue]:
    return {"key": key, "duration_s": duration_s}


def care_plan_args(
    *,
    news2_scale: int | None = None,
    on_oxygen: bool | None = None,
    rules: tuple[RuleSpec, ...] | Literal["default"] | None = None,
) -> dict[str, DetailValue]:
    args: dict[str, DetailValue] = {}
    if news2_scale is not None:
        args["news2_scale"] = news2_scale
    if on_oxygen is not None:
        args["on_oxygen"] = on_oxygen
    if rules == "default":
        args["trend_rules"] = "default"
    elif rules is not None:
        args["trend_rules"] = "custom"
        args |= {f"rule_{i}": r.encode() for i, r in enumerate(rules, start=1)}
    return args


# -- acknowledgements (the edge answers, the hub reads) -----------------------------------


def ack_event(
    cmd: Command,
    ts: float,
    result: Result,
    reason: str = "",
    detail: dict[str, DetailValue] | None = None,
) -> Event:
    """The edge's answer to `cmd`; `detail` (at most 28 keys) adds what it produced."""
    extra = {k: v for k, v in (detail or {}).items() if k not in _ACK_KEYS}
    return Event(
        id=new_id(),
        dwelling=cmd.dwelling,
        ts=ts,
        kind=ACK_EVENT,
        detail={
            "command": cmd.id,
            "name": cmd.name,
            "result": result,
            "reason": reason[:200],
            **dict(list(extra.items())[: MAX_DETAIL_KEYS - len(_ACK_KEYS)]),
        },
    )


@dataclass(frozen=True, slots=True)
class CommandAck:
    command: str
    name: str
    result: Result
    reason: str
    ts: float
    detail: dict[str, DetailValue]


def read_ack(kind: str, ts: float, detail: dict[str, DetailValue]) -> CommandAck | None:
    """The acknowledgement an event carries, or None (not an ack, or malformed)."""
    if kind != ACK_EVENT:
        return None
    cmd, name, result = detail.get("command"), detail.get("name"), detail.get("result")
    if not isinstance(cmd, str) or not isinstance(name, str) or result not in ("ok", "refused"):
        return None
    reason = detail.get("reason")
    rest = {k: v for k, v in detail.items() if k not in _ACK_KEYS}
    return CommandAck(cmd, name, "ok" if result == "ok" else "refused", str(reason or ""), ts, rest)


def is_test_alarm(detail: dict[str, DetailValue]) -> str | None:
    """The id of the test command an alarm's detail names, or None (a real alarm)."""
    if detail.get(TEST_KEY) is not True:
        return None
    cmd = detail.get(COMMAND_KEY)
    return cmd if isinstance(cmd, str) else None
