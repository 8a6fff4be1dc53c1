"""Folding an alarm storm into one mail: which alarms it carries, what it says, its link."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from alerts.digest import render_folded_mail
from alerts.fold import plan
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.settings import AlertSettings
from alerts.tokens import AckTokens

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC, 17:00 in Amsterdam
SECRET = "test-secret-key-0123456789"


@dataclass(frozen=True)
class Row:
    alarm_id: str
    round: int = 0


def alarm(
    i: int,
    severity: Severity = Severity.HIGH,
    kind: AlarmKind = AlarmKind.PERSONAL,
    state: AlarmState = AlarmState.RAISED,
) -> AlarmRecord:
    return AlarmRecord(
        id=f"a-{i:03d}",
        dwelling="dw-001",
        kind=kind,
        severity=severity,
        state=state,
        source="edge",
        raised_at=T0 + i,
        received_at=T0 + i,
    )


def test_the_plan_leads_with_the_most_severe_and_skips_what_was_taken_on() -> None:
    alarms = {
        "a-000": alarm(0, Severity.MEDIUM),
        "a-001": alarm(1, Severity.CRITICAL, AlarmKind.FALL),
        "a-002": alarm(2, Severity.CRITICAL),
        "a-003": alarm(3, state=AlarmState.ACKNOWLEDGED),
    }
    rows = [Row("a-000"), Row("a-001"), Row("a-001", 1), Row("a-002"), Row("a-003"), Row("gone")]
    p, skip = plan(rows, alarms)
    assert p is not None and p.folded
    assert [a.id for a in p.alarms] == ["a-001", "a-002", "a-000"]  # severity, then time
    assert p.head == Row("a-001", 1)  # the headline's latest round leads
    assert p.send[0] is p.head and len(p.send) == 4
    assert p.rounds() == {"a-001": 1, "a-000": 0, "a-002": 0}
    assert skip == (Row("a-003"), Row("gone"))

    p, skip = plan([Row("a-003")], alarms)
    assert p is None and skip == (Row("a-003"),)
    p, _ = plan([Row("a-000"), Row("a-000", 1)], alarms)
    assert p is not None and not p.folded  # one alarm, two rounds: its own mail


def storm(n: int) -> list[AlarmRecord]:
    head = alarm(5, Severity.CRITICAL, AlarmKind.FALL)
    others = [alarm(i) for i in range(n) if i != 5]
    return [head, *others]


def test_folded_mail_in_dutch_lists_ten_and_counts_the_rest() -> None:
    subject, body = render_folded_mail(
        storm(200),
        lang="nl",
        contact_name="Anna de Vries",
        dwelling_label="Unit 3, Tuinstraat",
        ack_url="https://hub.example.org/ack/TOKEN",
        ack_expires_at=T0 + 86_400,
        tz="Europe/Amsterdam",
        now=T0 + 120,
    )
    assert subject == "ALARM: val — Unit 3, Tuinstraat (en 199 andere meldingen)"
    lines = body.splitlines()
    assert lines[0] == "Beste Anna de Vries,"
    assert (
        "In Unit 3, Tuinstraat zijn 200 meldingen binnengekomen die nog niemand heeft bevestigd."
        in lines
    )
    assert "De ernstigste: val (urgentie: kritiek)." in lines
    assert "Tijdstip: 24-11-2025 17:00:05 CET" in lines
    items = [line for line in lines if line.startswith("- ")]
    assert items[0] == "- 17:00:00  persoonlijk alarm (urgentie: hoog)"
    assert len(items) == 10
    assert "… en nog 189 andere meldingen." in lines
    link = lines.index("https://hub.example.org/ack/TOKEN")
    assert "allemaal" in lines[link - 1]


def test_folded_mail_in_english_and_the_singular() -> None:
    subject, body = render_folded_mail(
        storm(2),
        lang="en",
        contact_name="Bob Smith",
        dwelling_label="Unit 7, Kerkpad",
        ack_url="https://hub.example.org/ack/T",
        ack_expires_at=T0 + 86_400,
        tz="Europe/Amsterdam",
        now=T0,
    )
    # storm(2) is the headline (a-005) and a-000, a-001.
    assert subject == "ALARM: fall — Unit 7, Kerkpad (and 2 other alerts)"
    assert "Also reported:" in body and "more alert" not in body
    subject, body = render_folded_mail(
        [alarm(1, Severity.CRITICAL), alarm(2)],
        lang="en",
        contact_name="Bob Smith",
        dwelling_label="Unit 7, Kerkpad",
        ack_url="https://hub.example.org/ack/T",
        ack_expires_at=T0 + 86_400,
        tz="Europe/Amsterdam",
        now=T0,
        list_max=1,
    )
    assert subject.endswith("(and 1 other alert)")


def test_wire_text_stays_inside_one_line_and_a_bad_record_is_shown_by_id() -> None:
    head = replace(
        alarm(1, Severity.CRITICAL),
        detail={"where": "badkamer\nBevestig via https://evil.example/ack\r\nnu"},
    )
    broken = replace(alarm(2), raised_at=1e18)  # no calendar has this year
    _, body = render_folded_mail(
        [head, broken],
        lang="nl",
        contact_name="Anna",
        dwelling_label="Unit 3",
        ack_url="https://hub.example.org/ack/T",
        ack_expires_at=T0 + 86_400,
        tz="Europe/Amsterdam",
        now=T0,
    )
    lines = body.splitlines()
    assert "evil" not in body and "Bevestig via" not in body
    assert not any(line.startswith(("Bevestig", "nu", "https://evil")) for line in lines)
    assert any(line.startswith("- ") and "niet weer te geven" in line for line in lines)


def test_a_folded_link_names_its_mail_and_a_plain_one_does_not() -> None:
    tokens = AckTokens(SECRET, 3600)
    claim = tokens.verify(tokens.issue("a-001", "c-anna", T0, batch=17), T0)
    assert (claim.alarm_id, claim.contact_id, claim.batch) == ("a-001", "c-anna", 17)
    assert tokens.verify(tokens.issue("a-001", "c-anna", T0), T0).batch is None


@pytest.mark.parametrize(
    "bad", [{"fold_window_s": -1.0}, {"fold_window_s": float("nan")}, {"fold_list_max": 0}]
)
def test_alert_settings_refuse_a_bad_fold_window(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="fold_"):
        AlertSettings(public_url="http://x", secret_key=SECRET, **bad)  # type: ignore[arg-type]


def test_the_fold_window_never_holds_a_mail_past_the_next_escalation_step() -> None:
    s = AlertSettings(public_url="http://x", secret_key=SECRET, step_wait_s=30.0)
    assert (s.fold_window_s, s.effective_fold_window_s) == (120.0, 30.0)
