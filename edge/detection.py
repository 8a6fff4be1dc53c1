"""The hook where detectors (fall, inactivity, vitals; `edge/detectors/`) plug into the agent.

A detector is pure and streaming (see DESIGN.md): `update(readings, t)` with the readings of
one device frame, `advance(t)` when time passes without samples (silence is exactly what
an inactivity or long-lie detector watches). Both return findings. A finding without an
alarm kind becomes a wire `Event`. A finding with one states an alarm *condition*: on
(`on=True`: it holds, at `severity`) or off (it has ended), keyed by (the detector's name,
`rule`, `sensor`); the agent's alarm book (`edge.alarm_book`) raises, escalates or cancels
the alarm and keeps its id, and the finding's event goes out when the book acted. So a
detector keeps no alarm ids and may repeat its level (a repeat is not news).
A detector with another shape is wrapped in a small adapter that satisfies this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sensors.contract import AlarmKind, Severity
from sensors.readings import Reading

DetailValue = float | int | bool | str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """What a detector concluded, at time `t` (UNIX s, from the data, not a clock)."""

    kind: str  # event kind on the wire, e.g. "fall_confirmed", "inactivity"
    t: float
    sensor: str | None = None
    detail: Mapping[str, DetailValue] = field(default_factory=dict)
    alarm: AlarmKind | None = None  # states the condition of an alarm of this kind
    severity: Severity = Severity.HIGH
    on: bool = True  # with alarm: the condition holds (raise/escalate) or ended (cancel)
    rule: str | None = None  # with alarm: the condition's name (default: `kind`)

    @property
    def condition(self) -> str:
        """The rule this finding's alarm condition is keyed on."""
        return self.rule or self.kind


class Detector(Protocol):
    """What the agent needs of a detector; `name` appears in logs and event details."""

    @property
    def name(self) -> str: ...

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]: ...

    def advance(self, t: float) -> Sequence[Finding]: ...
