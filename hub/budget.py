"""Per-dwelling budgets: how much one dwelling may send the hub. Pure, time as an argument.

Every budget is a token bucket (a sustained `rate` per second and a `burst`): a bucket
holds at most `burst` tokens, refills at `rate` tokens per second, and a message is
admitted only when every bucket it draws on holds enough; then (and only then) all of
them are charged. A refused message charges nothing, so a flood is refused for exactly as
long as it exceeds the rate, and an honest message that follows gets through.

The classes have separate buckets, so one class's flood never refuses another class:

- **bulk** (readings batches): messages/s, readings/s and bytes/s;
- **control** (events and status): messages/s;
- **alarms**: alarm messages per second (checked before a message is even decoded, so a
  flood of junk or of one alarm over and over costs the hub next to nothing and never
  holds up another dwelling's alarm), and, for a raise, raises per hour and a cap on open
  alarms (`admit_alarm`); cancels draw on the messages bucket only.

A dwelling's readings flood therefore never refuses its own alarm, and no dwelling's
budget touches another's. Memory is bounded: at most `max_dwellings` dwellings are
tracked; past that the least recently seen one is forgotten (it comes back with full
buckets and no refusal counts). The hub calls this only for registered dwellings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sensors.contract import Channel

# Reason codes, as counted here and by ingest (`rejected.<reason>`).
BUDGET_MESSAGES: Final = "budget_messages"
BUDGET_READINGS: Final = "budget_readings"
BUDGET_BYTES: Final = "budget_bytes"
BUDGET_ALARM_RATE: Final = "budget_alarm_rate"
BUDGET_OPEN_ALARMS: Final = "budget_open_alarms"
REASONS: Final = (
    BUDGET_MESSAGES,
    BUDGET_READINGS,
    BUDGET_BYTES,
    BUDGET_ALARM_RATE,
    BUDGET_OPEN_ALARMS,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's shape: `per_s` tokens per second sustained, at most `burst` at once."""

    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.per_s > 0 and self.burst >= 1):
            raise ValueError(f"a rate needs per_s > 0 and burst >= 1, not {self}")


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """The budget of every dwelling. Defaults: see docs/hub.md, "Per-dwelling budgets"."""

    bulk_messages: Rate = Rate(30.0, 900.0)  # readings batches
    bulk_readings: Rate = Rate(3000.0, 60_000.0)  # readings in those batches
    bulk_bytes: Rate = Rate(1_000_000.0, 16_000_000.0)  # payload bytes of those batches
    control_messages: Rate = Rate(10.0, 1000.0)  # events and status
    # Alarm messages of any kind: a healthy edge sends a few a day, replays a handful after
    # an outage, and resends each unconfirmed one every 30-600 s.
    alarm_messages: Rate = Rate(2.0, 120.0)
    alarm_raises: Rate = Rate(60.0 / 3600.0, 30.0)  # alarm raises (60 an hour)
    max_open_alarms: int = 50
    max_dwellings: int = 10_000  # memory bound: dwellings tracked at once

    def __post_init__(self) -> None:
        if self.max_open_alarms < 1 or self.max_dwellings < 1:
            raise ValueError("max_open_alarms and max_dwellings must be >= 1")


@dataclass(slots=True)
class _Bucket:
    rate: Rate
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        # A clock that steps back refills nothing (and takes nothing away).
        if now > self.at:
            self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_s)
            self.at = now

    def has(self, cost: float) -> bool:
        # UNIX times near 1.7e9 carry ~1e-7 s of rounding: do not refuse over that.
        return self.tokens >= cost - 1e-6


@dataclass(slots=True)
class _Dwelling:
    bulk_messages: _Bucket
    bulk_readings: _Bucket
    bulk_bytes: _Bucket
    control_messages: _Bucket
    alarm_messages: _Bucket
    alarm_raises: _Bucket
    refused: dict[str, int] = field(default_factory=dict)
    last_refused_at: float | None = None


class DwellingBudgets:
    """Admission per dwelling and message class; counts what it refuses, per reason.

    Not thread-safe: ingest calls it from the event loop.
    """

    def __init__(self, policy: BudgetPolicy) -> None:
        self.policy = policy
        self._dwellings: OrderedDict[str, _Dwelling] = OrderedDict()

    def _state(self, dwelling: str, now: float) -> _Dwelling:
        state = self._dwellings.get(dwelling)
        if state is None:
            p = self.policy

            def full(rate: Rate) -> _Bucket:
                return _Bucket(rate, rate.burst, now)

            state = _Dwelling(
                full(p.bulk_messages),
                full(p.bulk_readings),
                full(p.bulk_bytes),
                full(p.control_messages),
                full(p.alarm_messages),
                full(p.alarm_raises),
            )
            self._dwellings[dwelling] = state
            while len(self._dwellings) > p.max_dwellings:
                self._dwellings.popitem(last=False)
        else:
            self._dwellings.move_to_end(dwelling)
        return state

    def _refuse(self, state: _Dwelling, reason: str, now: float) -> str:
        state.refused[reason] = state.refused.get(reason, 0) + 1
        state.last_refused_at = now
        return reason

    def admit(
        self, dwelling: str, channel: Channel, *, readings: int, size: int, now: float
    ) -> str | None:
        """None: admitted and charged. Else the reason code; nothing was charged.

        `readings` is the number of readings in a readings batch (0 otherwise), `size` the
        payload's length in bytes. Alarm messages draw on their own messages bucket
        (raises also on `admit_alarm`).
        """
        state = self._state(dwelling, now)
        costs: tuple[tuple[_Bucket, float, str], ...]
        if channel is Channel.ALARMS:
            costs = ((state.alarm_messages, 1.0, BUDGET_MESSAGES),)
        elif channel is Channel.READINGS:
            costs = (
                (state.bulk_messages, 1.0, BUDGET_MESSAGES),
                (state.bulk_readings, float(readings), BUDGET_READINGS),
                (state.bulk_bytes, float(size), BUDGET_BYTES),
            )
        else:  # events, status (and anything else a dwelling sends)
            costs = ((state.control_messages, 1.0, BUDGET_MESSAGES),)
        for bucket, cost, reason in costs:
            bucket.refill(now)
            if not bucket.has(cost):
                return self._refuse(state, reason, now)
        for bucket, cost, _ in costs:
            bucket.tokens -= cost
        return None

    def admit_alarm(self, dwelling: str, *, open_alarms: int, now: float) -> str | None:
        """For an alarm *raise*: None (admitted, charged), "budget_open_alarms" when the
        dwelling already has `max_open_alarms` open, or "budget_alarm_rate"."""
        state = self._state(dwelling, now)
        if open_alarms >= self.policy.max_open_alarms:
            return self._refuse(state, BUDGET_OPEN_ALARMS, now)
        bucket = state.alarm_raises
        bucket.refill(now)
        if not bucket.has(1.0):
            return self._refuse(state, BUDGET_ALARM_RATE, now)
        bucket.tokens -= 1.0
        return None

    def refused(self, dwelling: str) -> Mapping[str, int]:
        """Refusals of this dwelling by reason (empty when none or not tracked)."""
        state = self._dwellings.get(dwelling)
        return dict(state.refused) if state is not None else {}

    def refused_all(self) -> Mapping[str, Mapping[str, int]]:
        """Refusals by dwelling and reason, for the dwellings with any."""
        return {d: dict(s.refused) for d, s in self._dwellings.items() if s.refused}

    def last_refused_at(self, dwelling: str) -> float | None:
        """When this dwelling was last refused anything (to clear its technical alarm after
        a quiet while); None when never (or not tracked)."""
        state = self._dwellings.get(dwelling)
        return state.last_refused_at if state is not None else None
