"""Which Contact ID event code an alarm is sent with (SIA DC-05 / Ademco Contact ID). Pure.

| our alarm                                  | code | Contact ID name              |
|--------------------------------------------|------|------------------------------|
| personal alarm (pendant button)            | 101  | personal emergency           |
| fall, long lie, vitals (NEWS2)             | 100  | medical                      |
| inactivity: not up in the morning          | 641  | senior watch trouble         |
| inactivity: any other quiet-too-long rule  | 654  | system inactivity            |
| technical: dwelling offline                | 350  | communication trouble        |
| technical: a sensor fell silent            | 381  | loss of supervision (RF)     |
| technical: battery low                     | 384  | RF low battery               |
| technical: anything else                   | 300  | system trouble               |
| link test (NULL message / periodic test)   | 602  | periodic test report         |

A cleared alarm is sent with the same code and qualifier 3 (restore); that choice is the
caller's, this module only picks the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sensors.contract import AlarmKind, Severity

PERSONAL_EMERGENCY: Final = 101
MEDICAL: Final = 100
SENIOR_WATCH_TROUBLE: Final = 641
SYSTEM_INACTIVITY: Final = 654
COMMUNICATION_TROUBLE: Final = 350
SUPERVISION_LOST: Final = 381
LOW_BATTERY: Final = 384
SYSTEM_TROUBLE: Final = 300
LINK_TEST_CODE: Final = 602

_MEDICAL_KINDS: Final = frozenset({AlarmKind.FALL, AlarmKind.LONG_LIE, AlarmKind.VITALS})

# Technical alarm keys (AlarmRecord.detail["key"]): hub.presence raises "offline"; the
# sensor and battery keys are the ones alerts.texts.TECHNICAL_LABELS names.
_OFFLINE_KEYS: Final = frozenset({"offline"})
_SILENT_KEYS: Final = frozenset({"sensor_silent", "silent", "supervision_lost"})


def event_code(kind: AlarmKind, severity: Severity, detail: Mapping[str, object]) -> int:
    """The Contact ID event code for an alarm of `kind` with `detail`.

    `severity` does not change the code (whether an alarm goes to the alarm centre at all
    is the routing policy's decision); it is taken so that callers pass what they have.
    """
    del severity
    if kind is AlarmKind.PERSONAL:
        return PERSONAL_EMERGENCY
    if kind in _MEDICAL_KINDS:
        return MEDICAL
    if kind is AlarmKind.INACTIVITY:
        return SENIOR_WATCH_TROUBLE if _not_up(detail) else SYSTEM_INACTIVITY
    return _technical(str(detail.get("key", "")))


def _not_up(detail: Mapping[str, object]) -> bool:
    """The routine detector's not-up rule: its alarm carries `up_by_min` (the minute of the
    day the resident should have been up by; edge.detectors.routine); a rule or reason
    naming "not up" counts too."""
    if "up_by_min" in detail:
        return True
    for field in ("rule", "reason", "finding"):
        words = str(detail.get(field, "")).lower().replace("_", " ").replace("-", " ")
        if "not up" in words:
            return True
    return False


def _technical(key: str) -> int:
    key = key.lower()
    if key in _OFFLINE_KEYS:
        return COMMUNICATION_TROUBLE
    if key in _SILENT_KEYS:
        return SUPERVISION_LOST
    if "battery" in key:
        return LOW_BATTERY
    return SYSTEM_TROUBLE
