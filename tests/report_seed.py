"""A month of alarms with known monthly-report figures (alerts.impact), seeded through the
real AlarmService and its store: for the report's API and CLI tests, and for a browser
test of the report page (seed, open the page for MONTH, compare with EXPECTED).

Every moment is given explicitly (October 2025, Amsterdam time, whatever the clock says),
so the seed works with a FakeClock and with the wall clock alike. Operators act through
the service (`acknowledge`, `resolve`, `close_alarm`, with their `now`); a mantelzorger's
"ik ga erheen" / "ik ben er" / close and the hand-over to the alarm centre are applied
with the lifecycle step the service applies (`respond_link`, the escalation in `tick`),
through the store, because those take the time from the service's clock.

It needs the dwellings and contacts of tests/integration/console_fakes.registry: dw-001
with contact c-anna, dw-002 with c-bob, dw-003 without alarms.

The figures, worked out by hand (response times in seconds after the hub received it):

dw-001, 11 care alarms:
  #   kind        severity  first response           taken on  centre          ends
  1   personal    high      10 operator ack          10        at once         op: false alarm
  2   personal    high      20 family on my way      20        at once         family: family help,
                                                                               then op: family help
  3   fall        high      30 operator ack          30        at once         op: ambulance
  4   fall        high      40 family on my way      40        at once         op: false alarm
  5   inactivity  medium    50 family on my way      50        -               family: false alarm
  6   inactivity  medium    60 operator ack          60        -               op resolves, no code
  7   vitals      high      70 family "ik ben er"    70        -               op: care provider
  8   personal    high      80 op closes, no ack     -         at once         op: other
  9   vitals      medium    90 family on my way      90        -               still open
  10  inactivity  medium    300 operator ack         300       after 120 s     op: care provider
  11  fall        high      - (edge cancels at 15)   -         at once         cancelled at the edge
  (#10 and #11 also get the centre's DC-09 ACK, at 125 s and 3 s: no person, so no response;
  counted as one, #10 would give p90 93.5 and #11 no_response 0.)
  plus an offline alarm from 30 Oct 22:00 to 1 Nov 02:00: 26 h in October (CET), 2 h in November.
  first response: 10 20 30 40 50 60 70 80 90 300 -> n 10, p50 55, p90 90 + 0.1 * 210 = 111
  taken on: 10 20 30 40 50 60 70 90 300 -> n 9 (small), p50 x[4] = 50, p90 90 + 0.2 * 210 = 132
  centre 7 of 11 (6 at once, 1 escalated); outcomes: false alarm 3 (#1 #4 #5), family help 1,
  ambulance 1, care provider 2, other 1 -> 8 with an outcome, false-alarm share 3/8;
  without outcome 1 (#6), cancelled 1 (#11), open 1 (#9).
dw-002: #12 personal high at 31 Oct 23:30 (after the DST change, 22:30 UTC), family on my way
  at 45 s, op: false alarm; #13 vitals high at 1 Nov 00:30 (23:30 UTC on 31 Oct): November,
  not October; offline 10 Oct 08:00-11:30: 3.5 h.
dw-003: nothing (a row of zeros).
Total (12 care alarms, 2 technical): first response 10 20 30 40 45 50 60 70 80 90 300 -> n 11,
  p50 x[5] = 50, p90 x[9] = 90; taken on 10 20 30 40 45 50 60 70 90 300 -> n 10,
  p50 (45 + 50) / 2 = 47.5, p90 111; centre 8 of 12 (7 at once); false alarms 4 of 9;
  downtime 29.5 h in 2 periods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from alerts import lifecycle
from alerts.centre import CENTRE
from alerts.model import AlarmKind, Outcome, Severity
from alerts.service import AlarmService, responder_label
from sensors.contract import AlarmMessage, new_id

MONTH: Final = "2025-10"
TZ: Final = ZoneInfo("Europe/Amsterdam")
OPERATOR: Final = "jan"  # console_fakes.OPERATOR's username
CONTACTS: Final = {"dw-001": "c-anna", "dw-002": "c-bob"}


def local(text: str) -> float:
    """A local (Amsterdam) time as UNIX seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


@dataclass(frozen=True, slots=True)
class Seed:
    dwelling: str
    at: str  # local time it is received
    kind: AlarmKind
    severity: Severity
    # (seconds after receipt, action, outcome): "centre", "centre_ack" (the receiver's
    # DC-09 ACK: no person), "ack", "on_my_way", "arrived", "family_close", "close",
    # "resolve", "cancel"
    steps: tuple[tuple[float, str, Outcome | None], ...]


P, F, Q, V = AlarmKind.PERSONAL, AlarmKind.FALL, AlarmKind.INACTIVITY, AlarmKind.VITALS  # Q: quiet
HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM

SEEDS: Final = (
    Seed("dw-001", "2025-10-02T09:00", P, HIGH,
         ((0, "centre", None), (10, "ack", None), (600, "close", Outcome.FALSE_ALARM))),
    Seed("dw-001", "2025-10-03T14:00", P, HIGH,
         ((0, "centre", None), (20, "on_my_way", None), (700, "family_close", Outcome.FAMILY_HELP),
          (900, "close", Outcome.FAMILY_HELP))),
    Seed("dw-001", "2025-10-05T03:10", F, HIGH,
         ((0, "centre", None), (30, "ack", None), (1200, "close", Outcome.AMBULANCE))),
    Seed("dw-001", "2025-10-08T11:00", F, HIGH,
         ((0, "centre", None), (40, "on_my_way", None), (800, "close", Outcome.FALSE_ALARM))),
    Seed("dw-001", "2025-10-12T16:00", Q, MEDIUM,
         ((50, "on_my_way", None), (500, "family_close", Outcome.FALSE_ALARM))),
    Seed("dw-001", "2025-10-15T10:00", Q, MEDIUM, ((60, "ack", None), (400, "resolve", None))),
    Seed("dw-001", "2025-10-20T20:00", V, HIGH,
         ((70, "arrived", None), (900, "close", Outcome.CARE_PROVIDER))),
    Seed("dw-001", "2025-10-24T07:30", P, HIGH,
         ((0, "centre", None), (80, "close", Outcome.OTHER))),
    Seed("dw-001", "2025-10-26T02:30", V, MEDIUM, ((90, "on_my_way", None),)),  # DST night: CEST
    Seed("dw-001", "2025-10-28T13:00", Q, MEDIUM,
         ((120, "centre", None), (125, "centre_ack", None), (300, "ack", None),
          (1500, "close", Outcome.CARE_PROVIDER))),
    Seed("dw-001", "2025-10-29T08:00", F, HIGH,
         ((0, "centre", None), (3, "centre_ack", None), (15, "cancel", None))),
    Seed("dw-002", "2025-10-31T23:30", P, HIGH,
         ((0, "centre", None), (45, "on_my_way", None), (600, "close", Outcome.FALSE_ALARM))),
    Seed("dw-002", "2025-11-01T00:30", V, HIGH, ()),  # November: not in October's figures
)  # fmt: skip
# Offline periods (hub.presence's technical alarm): (dwelling, from, to), local times.
OFFLINE: Final = (
    ("dw-001", "2025-10-30T22:00", "2025-11-01T02:00"),
    ("dw-002", "2025-10-10T08:00", "2025-10-10T11:30"),
)


async def seed(alarms: AlarmService) -> list[str]:
    """Seed SEEDS and OFFLINE; returns the alarm ids in SEEDS' order."""
    ids = []
    for n, s in enumerate(SEEDS, 1):
        alarm_id = f"report-seed-{n:02d}"
        t0 = local(s.at)
        await alarms.on_edge_alarm(_message(s, alarm_id, "raise"), received_at=t0)
        for offset, action, outcome in s.steps:
            await _act(alarms, s, alarm_id, action, outcome, t0 + offset)
        ids.append(alarm_id)
    for dwelling, start, end in OFFLINE:
        detail: dict[str, float | int | bool | str | None] = {"reason": "seed"}
        await alarms.raise_technical(dwelling, "offline", MEDIUM, detail, local(start))
        await alarms.clear_technical(dwelling, "offline", local(end))
    return ids


def _message(s: Seed, alarm_id: str, action: str) -> AlarmMessage:
    return AlarmMessage.model_validate(
        {
            "id": new_id(),
            "dwelling": s.dwelling,
            "ts": local(s.at) - 1.0,
            "action": action,
            "alarm_id": alarm_id,
            "kind": s.kind,
            "severity": s.severity,
        }
    )


async def _act(
    alarms: AlarmService, s: Seed, alarm_id: str, action: str, outcome: Outcome | None, t: float
) -> None:
    store = alarms.store
    if action == "ack":
        await alarms.acknowledge(alarm_id, OPERATOR, "", t)
    elif action == "resolve":
        await alarms.resolve(alarm_id, OPERATOR, "", t)
    elif action == "close":
        assert outcome is not None
        await alarms.close_alarm(alarm_id, OPERATOR, outcome, "", t)
    elif action == "cancel":
        msg = _message(s, alarm_id, "cancel")
        await alarms.on_edge_alarm(msg, received_at=t)
    elif action == "centre":
        # What the escalation (AlarmService._to_centre) does when the step is due.
        store.update(alarm_id, lambda r: lifecycle.hand_to_centre(r, t), at=t, by="hub")
    elif action == "centre_ack":
        # What the alarm centre's lane (alerts.centre.CentreLane) logs on the DC-09 ACK.
        store.update(
            alarm_id,
            lambda r: lifecycle.centre_acknowledged(r, t),
            at=t,
            by=CENTRE,
            note="DC-09 ACK",
        )
    else:
        # What AlarmService.respond_link does for the contact's link.
        contact = alarms.contact(s.dwelling, CONTACTS[s.dwelling])
        assert contact is not None, f"contact {CONTACTS[s.dwelling]} of {s.dwelling}"
        by = responder_label(contact)

        def step(r: Any) -> lifecycle.Step:
            if action == "on_my_way":
                return lifecycle.take_on(r, by, contact.id, "", t)
            if action == "arrived":
                return lifecycle.arrive(r, by, contact.id, "", t)
            assert action == "family_close" and outcome is not None
            return lifecycle.close(r, by, outcome, "", t, operator=False, contact_id=contact.id)

        store.update(alarm_id, step, at=t, by=by)


def _spread(n: int, p50: float | None, p90: float | None) -> dict[str, Any]:
    return {"n": n, "p50_s": p50, "p90_s": p90, "small_sample": 0 < n < 10}


def _kinds(**counts: int) -> dict[str, int]:
    return {k.value: counts.get(k.value, 0) for k in AlarmKind}


def _outcomes(**counts: int) -> dict[str, int]:
    return {o.value: counts.get(o.value, 0) for o in Outcome}


# October's figures as `GET /api/v1/reports/monthly?month=2025-10` gives them (each
# dwelling's "figures", and "total"), worked out in the module's docstring.
EXPECTED: Final[Mapping[str, Mapping[str, Any]]] = {
    "dw-001": {
        "alarms": 12,
        "by_kind": _kinds(personal=3, fall=3, inactivity=3, vitals=2, technical=1),
        "care_alarms": 11,
        "first_response": _spread(10, 55.0, 111.0),
        "taken_on": _spread(9, 50.0, 132.0),
        "no_response": 1,
        "to_centre": 7,
        "to_centre_direct": 6,
        "to_centre_escalated": 1,
        "to_centre_share": 7 / 11,
        "outcomes": _outcomes(false_alarm=3, family_help=1, ambulance=1, care_provider=2, other=1),
        "with_outcome": 8,
        "false_alarm_share": 3 / 8,
        "without_outcome": 1,
        "cancelled_at_edge": 1,
        "still_open": 1,
        "downtime_h": 26.0,
        "outages": 1,
    },
    "dw-002": {
        "alarms": 2,
        "by_kind": _kinds(personal=1, technical=1),
        "care_alarms": 1,
        "first_response": _spread(1, 45.0, 45.0),
        "taken_on": _spread(1, 45.0, 45.0),
        "no_response": 0,
        "to_centre": 1,
        "to_centre_direct": 1,
        "to_centre_escalated": 0,
        "to_centre_share": 1.0,
        "outcomes": _outcomes(false_alarm=1),
        "with_outcome": 1,
        "false_alarm_share": 1.0,
        "without_outcome": 0,
        "cancelled_at_edge": 0,
        "still_open": 0,
        "downtime_h": 3.5,
        "outages": 1,
    },
    "dw-003": {
        "alarms": 0,
        "by_kind": _kinds(),
        "care_alarms": 0,
        "first_response": _spread(0, None, None),
        "taken_on": _spread(0, None, None),
        "to_centre": 0,
        "to_centre_share": None,
        "with_outcome": 0,
        "false_alarm_share": None,
        "downtime_h": 0.0,
        "outages": 0,
    },
    "total": {
        "alarms": 14,
        "by_kind": _kinds(personal=4, fall=3, inactivity=3, vitals=2, technical=2),
        "by_severity": {"low": 0, "medium": 6, "high": 8, "critical": 0},
        "care_alarms": 12,
        "first_response": _spread(11, 50.0, 90.0),
        "taken_on": _spread(10, 47.5, 111.0),
        "no_response": 1,
        "to_centre": 8,
        "to_centre_direct": 7,
        "to_centre_escalated": 1,
        "to_centre_share": 8 / 12,
        "outcomes": _outcomes(false_alarm=4, family_help=1, ambulance=1, care_provider=2, other=1),
        "with_outcome": 9,
        "false_alarm_share": 4 / 9,
        "without_outcome": 1,
        "cancelled_at_edge": 1,
        "still_open": 1,
        "downtime_h": 29.5,
        "outages": 2,
    },
}
