"""A console wired to a real AlarmService and a real registry (SQLite: operators, contacts,
sessions), with small fake presence/ingest stats."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerts.channels.router import ChannelRouter
from alerts.model import Contact
from alerts.service import AlarmService, AlertSettings
from hub.context import (
    Actor,
    ConsoleSettings,
    Dwelling,
    DwellingHealth,
    HubContext,
    Operator,
    SensorState,
)
from hub.registry import Registry, SqliteRegistry, hash_password
from hub.storage.base import Point, StoredEvent, TimeSeriesStore
from sensors.contract import new_id
from tests.integration.alarm_fakes import FakeClock
from tests.ops_store import ops_engine

SECRET = "console-test-secret-0123456789"
OPERATOR = ("jan", "juist-wachtwoord-42")  # test-only credentials
COORDINATOR = ("coco", "coordinator-pw-42")  # edits resident cards, reads the audit trail
VIEWER = ("resident", "pw-resident-1")  # a known user without a console role


@dataclass
class FakePresence:
    health: list[DwellingHealth] = field(default_factory=list)

    def board(self) -> list[DwellingHealth]:
        return list(self.health)


@dataclass
class FakeIngestStats:
    values: dict[str, int] = field(default_factory=dict)

    def counters(self) -> Mapping[str, int]:
        return dict(self.values)

    def refused(self) -> Mapping[str, Mapping[str, int]]:
        return {}


@dataclass
class FakeSleep:
    """Sits out a login slow-down on the fake clock, at once; remembers each wait."""

    clock: FakeClock
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def registry(path: Path) -> Registry:
    reg = SqliteRegistry(path)
    reg.add_dwelling(Dwelling("dw-001", "Unit 3, Tuinstraat"))
    reg.add_dwelling(Dwelling("dw-002", "Unit 7, Kerkpad"))
    reg.add_dwelling(Dwelling("dw-003", "Unit 1, Dorpsweg"))
    reg.add_contact(Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org", "nl"))
    reg.add_contact(Contact("c-bob", "dw-002", "Bob Smith", "bob@example.org", "en"))
    reg.add_operator(Operator(OPERATOR[0], "operator", "Jan Jansen"), OPERATOR[1])
    reg.add_operator(Operator(COORDINATOR[0], "coordinator", "Coco"), COORDINATOR[1])
    # The registry refuses other roles; an older or hand-edited one may hold them.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO operators (username, role, password_hash) VALUES (?, 'viewer', ?)",
            (VIEWER[0], hash_password(VIEWER[1])),
        )
    conn.close()
    return reg


# A resident card for dw-001 (fictitious; test-only secrets, spelled so that nothing else
# on a page can contain them by chance).
KEY_SAFE_CODE = "K7Q4Z9"
CARE_NOTES = "COPD, thuiszuurstof 2 l/min. Allergie: penicilline."


def seed_resident(reg: Registry, now: float) -> None:
    """Truus's card on dw-001, and a neighbour with a phone the routing asks first."""
    reg.add_contact(
        Contact("c-jan", "dw-001", "Jan Buurman", None, priority=2, phone="+31 6 1111 2222",
                role="neighbour")
    )  # fmt: skip
    reg.set_policy("dw-001", [("c-jan", 60), ("c-anna", 120)])
    reg.update_resident(
        "dw-001",
        {
            "name": "Truus Voorbeeld",
            "first_name": "Truus",
            "date_of_birth": "1938-04-12",
            "address": "Tuinstraat 3, 3512 AB Utrecht",
            "access": "Sleutelkluis links van de voordeur. Bel eerst aan: slechthorend.",
            "gp_name": "Huisartsenpraktijk De Voorbeeldhoek",
            "gp_phone": "030 000 0101",
            "phone": "+31 30 000 0001",
            "news2_scale": 2,
            "on_oxygen": True,
            "institution_patient_id": "DEMO-0001",
            "key_safe_code": KEY_SAFE_CODE,
            "care_notes": CARE_NOTES,
        },
        Actor("seed", "admin", "cli"),
        now,
    )


def presence(now: float) -> FakePresence:
    return FakePresence(
        [
            DwellingHealth(
                "dw-001",
                True,
                now - 4,
                now - 7200,
                uptime_s=7200,
                spool_depth=0,
                sensors=(
                    SensorState("pendant-1", "button", "ok", now - 30, 87.0),
                    SensorState("radar-1", "presence", "ok", now - 1, None),
                    SensorState("bed-1", "bed", "silent", now - 900, 12.0),
                ),
            ),
            DwellingHealth("dw-002", False, now - 340, now - 250, spool_depth=17),
        ]
    )


def build(
    tmp: Path,
    clock: FakeClock,
    *,
    demo: bool = False,
    hint: str = "",
    timeseries: TimeSeriesStore | None = None,
) -> tuple[HubContext, AlarmService]:
    reg = registry(tmp / "hub.sqlite")
    alarms = AlarmService(
        ops_engine(tmp),
        ChannelRouter(None, None),
        reg,
        AlertSettings(public_url="http://testserver", secret_key=SECRET, ack_link_ttl_s=3600),
        clock,
    )
    ctx = HubContext(
        console=ConsoleSettings(
            secret_key=SECRET, public_url="http://testserver", demo=demo, demo_login_hint=hint
        ),
        registry=reg,
        presence=presence(clock()),
        ingest_stats=FakeIngestStats(
            {
                "accepted.alarms": 3,
                "duplicate": 1,
                "rejected.schema": 2,
                "rejected.dwelling_mismatch": 1,
            }
        ),
        alarms=alarms,
        timeseries=timeseries,
    )
    return ctx, alarms


# -- early-warning history for the dwelling page ------------------------------------------

DAY = 86400.0
# 48 half-hour buckets from 00:00: 10 h allowed at night (before 07:00 and from 23:00),
# 2.5-3 h by day; asleep thresholds only at night.
QUIET_AWAKE = ",".join(
    "600" if b < 14 or b >= 46 else ("180" if b % 2 else "150") for b in range(48)
)
QUIET_ASLEEP = ",".join("540" if b < 14 or b >= 46 else "" for b in range(48))


Detail = dict[str, float | int | bool | str | None]


def routine_profile(**extra: float | int | bool | str | None) -> Detail:
    """A learned routine as edge/routine_adapter.py `profile()` sends it."""
    return {
        "days_learned": 12,
        "days_needed": 5,
        "learned": True,
        "wake_min": 435.0,  # 07:15
        "bedtime_min": -75.0,  # 22:45
        "up_by_min": 555.0,  # 09:15
        "out_of_bed_limit_s": 2400.0,  # 40 min
        "out_of_bed_enabled": True,
        "night_start_min": -75.0,
        "night_end_min": 435.0,
        "return_by_min": 90.0,  # not home at night by 01:30: alarm
        "not_back": "on",
        "quiet_bucket_min": 30,
        "quiet_awake_min": QUIET_AWAKE,
        "quiet_asleep_min": QUIET_ASLEEP,
        **extra,
    }


async def event(
    store: TimeSeriesStore,
    dwelling: str,
    kind: str,
    ts: float,
    sensor: str | None = None,
    detail: Detail | None = None,
    **more: float | int | bool | str | None,
) -> None:
    """Store an event as ingest does; `detail` and `more` together are its detail."""
    await store.write_event(
        StoredEvent(
            new_id(), dwelling, kind, ts, ts + 1.0, sensor=sensor, detail={**(detail or {}), **more}
        )
    )


async def seed_early_warning(store: TimeSeriesStore, dwelling: str, now: float) -> None:
    """Two weeks of a resident with spot-check vital signs, a learned routine, a NEWS2 that
    rose to medium two hours ago, a weight-gain trend alarm and a past inactivity alarm."""
    await event(
        store, dwelling, "routine_profile", now - 2 * DAY, detail=routine_profile(days_learned=11)
    )
    await event(store, dwelling, "routine_profile", now - 5 * 3600, detail=routine_profile())
    await event(
        store, dwelling, "news2_band_changed", now - 3 * DAY, "oxi-1",
        score=2, band="low", previous_band="zero", partial=False, missing="", red_flag=False,
    )  # fmt: skip
    news2: Detail = {
        "score": 5, "band": "medium", "partial": True, "missing": "rr,acvpu",
        "red_flag": False, "sub_hr": 2, "sub_spo2": 2, "sub_temp": 1,
    }  # fmt: skip
    await event(
        store, dwelling, "news2_band_changed", now - 7200, "oxi-1", news2, previous_band="low"
    )
    await event(store, dwelling, "vitals_alarm", now - 7199, "oxi-1", news2)
    await event(
        store, dwelling, "trend_alarm", now - DAY,
        rule="weight_gain", metric="weight", value=84.6, baseline_median=None,
        baseline_mad=None, baseline_days=None, day="2025-11-23",
    )  # fmt: skip
    await event(store, dwelling, "inactivity", now - 30 * 3600, since=now - 33 * 3600,
                threshold_s=10800.0, learned=True)  # fmt: skip
    await event(store, dwelling, "inactivity_cancelled", now - 29 * 3600, since=now - 33 * 3600)
    await event(store, dwelling, "fall_confirmed", now - 4 * DAY, "wearable-1", peak_g=3.2)
    await event(store, dwelling, "trend_novel_rule", now - 600, foo="bar")
    # Not early warning: kept off the page.
    await event(store, dwelling, "sensor_silent", now - 60, "bed-1", source="routine")
    await event(store, dwelling, "button", now - 50, "pendant-1", press="press")
    points = []
    for k in range(1, 43):  # every 8 h for 14 days: pulse oximeter spot checks
        t = now - k * 8 * 3600
        points += [
            Point(dwelling, "oxi-1", "hr", t, 70.0 + k % 5),
            Point(dwelling, "oxi-1", "spo2", t, 96.0 - k % 2),
        ]
    for k in range(1, 15):
        points += [
            Point(dwelling, "thermo-1", "temperature", now - k * DAY + 3600, 36.8 + 0.05 * (k % 4)),
            Point(dwelling, "scale-1", "weight", now - k * DAY + 1800, 84.6 - 0.15 * k),
        ]
    # Room climate from an ordinary BTHome sensor: not a body temperature.
    points += [
        Point(dwelling, "room-1", "temperature", now - k * 600, 21.0) for k in range(1, 2017)
    ]
    await store.write_points(points)
