"""Commands from the hub: checked, carried out, counted, and answered.

    handler = CommandHandler(settings, pipeline, outbox, report)
    publisher = Publisher(..., on_command=handler.handle, on_bad_command=handler.malformed)

The broker's ACL is the authentication: only the hub may publish on
`mz/v1/{dwelling}/cmd/+`, and this dwelling reads only its own (`hub.broker_admin`). The
transport has already checked each message against the wire contract (a payload that fails
it is counted here as `malformed`, by reason); the transport's own `receipt` and `resend`
never get here. What the commands mean is in `sensors.commands`:

- `test_alarm`: a personal alarm, severity high, through the pipeline's ordinary
  `raise_alarm` (spooled, sent alarms first, kept until the hub's receipt) with detail
  `test = true, command = <id>`; the ack names the alarm id;
- `silence`: the pipeline's alarm book (`edge.alarm_book.AlarmBook.silence`, persisted in
  the spool): the open technical alarms of the key (a sensor id or an alarm id) are
  cancelled at the hub and raise nothing until then; duration 0 lifts the silence. A key
  with no open technical alarm is refused (`nothing_open`); the ack gives `until` and the
  alarms silenced;
- `care_plan`: `edge.care_plan` (persisted, then handed to every detector that takes a
  care plan: the vitals and trends adapters); the ack gives the plan now in force;
- `status_report`: the ack carries the agent's figures (`report(now)`).

Every command is answered by one `command_ack` event (`ok`, or `refused` with a reason),
spooled like any event so the answer reaches the hub after an outage too. A command id
seen before (QoS 1 may deliver twice) is not carried out again: counted, answered with
nothing (the first answer is already spooled).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from edge.care_plan import CarePlan, care_plan, care_plan_path, save_care_plan, updated
from edge.config import EdgeSettings
from edge.errors import SpoolError
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from sensors import commands as wire
from sensors.contract import AlarmKind, Command, DetailValue, Severity
from sensors.errors import CommandRefused

log = logging.getLogger(__name__)

Report = Callable[[float], dict[str, DetailValue]]
SEEN_IDS: Final = 256  # command ids remembered against redelivery


@runtime_checkable
class TakesCarePlan(Protocol):
    """A detector whose thresholds come from the care plan (vitals, trends)."""

    def apply_care_plan(self, plan: CarePlan) -> None: ...


@dataclass(slots=True)
class CommandStats:
    received: int = 0
    done: Counter[str] = field(default_factory=Counter)  # per command name
    refused: Counter[str] = field(default_factory=Counter)  # per reason
    malformed: Counter[str] = field(default_factory=Counter)  # per contract reason
    duplicates: int = 0

    def as_detail(self) -> dict[str, DetailValue]:
        return {
            "commands_done": sum(self.done.values()),
            "commands_refused": sum(self.refused.values()) + sum(self.malformed.values()),
        }


class CommandHandler:
    def __init__(
        self,
        settings: EdgeSettings,
        pipeline: Pipeline,
        outbox: Outbox,
        report: Report,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.outbox = outbox
        self.report = report
        self.clock = clock
        self.plan = care_plan(settings)
        self.stats = CommandStats()
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)

    def malformed(self, reason: str) -> None:
        """A command payload the wire contract refused (no id to answer to): counted."""
        self.stats.malformed[reason] += 1

    def handle(self, cmd: Command) -> None:
        now = self.clock()
        self.stats.received += 1
        if cmd.id in self._seen:
            self.stats.duplicates += 1
            log.info("command %s (%s) delivered again: not repeated", cmd.id, cmd.name)
            return
        self._seen.append(cmd.id)
        try:
            detail = self._carry_out(cmd, now)
        except CommandRefused as exc:
            self.stats.refused[exc.reason] += 1
            log.warning("command %s (%s) refused: %s", cmd.id, cmd.name, exc)
            ack = wire.ack_event(cmd, now, "refused", f"{exc.reason}: {exc.detail}")
        except SpoolError:
            raise  # the agent's end, as for any message it cannot spool
        except Exception as exc:
            # A command is input from outside: a bug it trips must not take the agent (and
            # the resident's alarms) down. Answered, logged with its trace.
            self.stats.refused["failed"] += 1
            log.exception("command %s (%s) failed", cmd.id, cmd.name)
            ack = wire.ack_event(cmd, now, "refused", f"failed: {type(exc).__name__}")
        else:
            self.stats.done[cmd.name] += 1
            log.info("command %s (%s) done", cmd.id, cmd.name)
            ack = wire.ack_event(cmd, now, "ok", "", detail)
        self.outbox.put(ack)

    def _carry_out(self, cmd: Command, now: float) -> dict[str, DetailValue]:
        action = wire.parse(cmd, now)
        if isinstance(action, wire.TestAlarm):
            aid = self.pipeline.raise_alarm(
                AlarmKind.PERSONAL,
                Severity.HIGH,
                t=now,
                detail={wire.TEST_KEY: True, wire.COMMAND_KEY: cmd.id},
            )
            return {"alarm_id": aid}
        if isinstance(action, wire.Silence):
            return self._silence(action, now)
        if isinstance(action, wire.CarePlanUpdate):
            return self._care_plan(action, now)
        return self.report(now) | self.stats.as_detail() | self._plan_detail()

    def _silence(self, action: wire.Silence, now: float) -> dict[str, DetailValue]:
        book = self.pipeline.book
        key = action.key
        by_id = any(e.alarm_id == key for e in book.entries())
        match = {"alarm_id": key} if by_id else {"sensor": key}
        try:
            if action.duration_s > 0:
                until: float | None = now + action.duration_s
                ids = book.silence(now + action.duration_s, now, **match)
            else:
                until = None
                ids = book.lift_silence(now, **match)
        except SpoolError as exc:
            raise CommandRefused("not_saved", f"silence not persisted: {exc}") from exc
        if not ids:
            what = "silenced" if until is None else "open"
            raise CommandRefused("nothing_open", f"no {what} technical alarm for {key}")
        return {"key": key, "until": until, "alarms": len(ids)}

    def _care_plan(self, action: wire.CarePlanUpdate, now: float) -> dict[str, DetailValue]:
        plan = updated(self.plan, action, now)
        try:
            save_care_plan(care_plan_path(self.settings), plan)
        except OSError as exc:
            raise CommandRefused("not_saved", f"care plan not persisted: {exc}") from exc
        self.plan = plan
        for det in self.pipeline.detectors:
            if isinstance(det, TakesCarePlan):
                det.apply_care_plan(plan)
        return self._plan_detail()

    def _plan_detail(self) -> dict[str, DetailValue]:
        p = self.plan
        return {
            "news2_scale": p.news2_scale,
            "on_oxygen": p.on_oxygen,
            "trend_rules": ",".join(r.name for r in p.trend_rules)[:200],
        }
