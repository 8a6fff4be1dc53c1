"""The edge alarm policy for falls; it lives in `edge.detectors.fall.alarm` (this module
keeps the old import path working)."""

from __future__ import annotations

from edge.detectors.fall.alarm import (
    MIN_SILENT_S,
    AlarmDecision,
    DecisionKind,
    FallAlarmConfig,
    FallAlarmPolicy,
    Severity,
)

__all__ = [
    "MIN_SILENT_S",
    "AlarmDecision",
    "DecisionKind",
    "FallAlarmConfig",
    "FallAlarmPolicy",
    "Severity",
]
