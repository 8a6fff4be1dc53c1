"""Folding: what one mail about several alarms of a dwelling carries. Pure, no I/O.

The outbox claim (`AlarmStore.claim` with a fold window) hands over every due row of one
(dwelling, contact, channel) at once. `plan` turns those rows into one mail: the rows
whose alarm nobody has taken on yet go out together, led by the most severe alarm; the
others are skipped. See docs/alerts.md, "Folding".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from alerts.lifecycle import UNACKNOWLEDGED
from alerts.model import AlarmRecord, Severity

SEVERITY_RANK: Final[Mapping[Severity, int]] = {
    Severity.LOW: 0,
    Severity.MEDIUM: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


class RowLike(Protocol):
    """What folding needs of an outbox row (`alerts.store.OutboxRow`)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def round(self) -> int: ...


R = TypeVar("R", bound=RowLike)


def headline_order(alarm: AlarmRecord) -> tuple[int, float, float, str]:
    """Sort key: the most severe first, then the earliest (made, then received)."""
    return (-SEVERITY_RANK[alarm.severity], alarm.raised_at, alarm.received_at, alarm.id)


@dataclass(frozen=True, slots=True)
class FoldPlan(Generic[R]):
    send: tuple[R, ...]  # the rows this one mail delivers, `head` first
    alarms: tuple[AlarmRecord, ...]  # the distinct alarms carried: headline, then the rest
    head: R  # the headline alarm's row (its latest round)

    @property
    def headline(self) -> AlarmRecord:
        return self.alarms[0]

    @property
    def folded(self) -> bool:
        """True when the mail carries more than one alarm."""
        return len(self.alarms) > 1

    def rounds(self) -> dict[str, int]:
        """Per alarm, the latest round this mail delivers."""
        out: dict[str, int] = {}
        for row in self.send:
            out[row.alarm_id] = max(out.get(row.alarm_id, -1), row.round)
        return out


def plan(
    rows: Sequence[R], alarms: Mapping[str, AlarmRecord | None]
) -> tuple[FoldPlan[R] | None, tuple[R, ...]]:
    """One mail for `rows` (all of one dwelling, contact and channel), and the rows to skip
    (their alarm is gone, or somebody took it on). The mail leads with the most severe
    alarm (the earliest of those); the others follow in the same order. None: nothing to
    send."""
    carried: dict[str, AlarmRecord] = {}
    live: list[R] = []
    skip: list[R] = []
    for r in rows:
        rec = alarms.get(r.alarm_id)
        if rec is None or rec.state not in UNACKNOWLEDGED:
            skip.append(r)
            continue
        live.append(r)
        carried[rec.id] = rec
    if not live:
        return None, tuple(skip)
    ordered = tuple(sorted(carried.values(), key=headline_order))
    head = max((r for r in live if r.alarm_id == ordered[0].id), key=lambda r: r.round)
    send = (head, *(r for r in live if r is not head))
    return FoldPlan(send, ordered, head), tuple(skip)
