"""A console wired to a real AlarmService and small fake registry/presence/ingest stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerts.model import Contact
from alerts.service import AlarmService, AlertSettings
from hub.context import (
    ConsoleSettings,
    DwellingHealth,
    HubContext,
    Operator,
    SensorState,
)
from tests.integration.alarm_fakes import FakeClock, FakeDirectory

SECRET = "console-test-secret-0123456789"
OPERATOR = ("jan", "juist-wachtwoord-42")  # test-only credentials


@dataclass
class FakeRegistry(FakeDirectory):
    operators: dict[str, tuple[str, Operator]] = field(default_factory=dict)

    def verify_operator(self, username: str, password: str) -> Operator | None:
        found = self.operators.get(username)
        return found[1] if found and found[0] == password else None


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


def registry() -> FakeRegistry:
    return FakeRegistry(
        contacts={
            "dw-001": [Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org", "nl")],
            "dw-002": [Contact("c-bob", "dw-002", "Bob Smith", "bob@example.org", "en")],
        },
        labels={
            "dw-001": "Unit 3, Tuinstraat",
            "dw-002": "Unit 7, Kerkpad",
            "dw-003": "Unit 1, Dorpsweg",
        },
        operators={
            OPERATOR[0]: (OPERATOR[1], Operator(OPERATOR[0], "operator", "Jan Jansen")),
            "resident": ("pw-resident-1", Operator("resident", "viewer")),
        },
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
    tmp: Path, clock: FakeClock, *, demo: bool = False, hint: str = ""
) -> tuple[HubContext, AlarmService]:
    reg = registry()
    alarms = AlarmService(
        tmp / "alarms.db",
        [],
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
    )
    return ctx, alarms
