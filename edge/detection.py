"""The hook where detectors (fall, inactivity, vitals; `edge/detectors/`) plug into the agent.

A detector is pure and streaming (see DESIGN.md): `update(readings, t)` with the readings of
one device frame, `advance(t)` when time passes without samples (silence is exactly what
an inactivity or long-lie detector watches). Both return findings; the pipeline turns
every finding into a wire `Event` and, when it names an alarm kind, also an `AlarmMessage`.
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
    alarm: AlarmKind | None = None  # also raise an alarm of this kind
    severity: Severity = Severity.HIGH
    alarm_id: str | None = None  # set to cancel/raise the same alarm across findings
    cancel: bool = False  # with alarm_id: this finding cancels that alarm


class Detector(Protocol):
    """What the agent needs of a detector; `name` appears in logs and event details."""

    @property
    def name(self) -> str: ...

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]: ...

    def advance(self, t: float) -> Sequence[Finding]: ...
