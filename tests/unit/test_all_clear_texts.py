"""What the all-clear says (alerts.all_clear): how the alarm ended, in Dutch or English, in
one SMS, never failing on a record it cannot format."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.all_clear import render_all_clear
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome, Severity
from alerts.present import SHORT_MAX

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC, 17:00 CET in Amsterdam


def ended(kind: AlarmKind, by: str, **kw: object) -> AlarmRecord:
    rec = AlarmRecord(
        id="a1",
        dwelling="dw-001",
        kind=kind,
        severity=Severity.MEDIUM,
        state=AlarmState.RESOLVED,
        source="edge",
        raised_at=T0,
        received_at=T0,
        resolved_at=T0 + 600,
        resolved_by=by,
    )
    return replace(rec, **kw)  # type: ignore[arg-type]


def render(alarm: AlarmRecord, lang: str = "nl", **kw: object) -> tuple[str, str, str]:
    return render_all_clear(
        alarm,
        lang=lang,
        contact_name="Anna de Vries",
        dwelling_label=str(kw.pop("label", "Unit 3, Tuinstraat")),
        tz="Europe/Amsterdam",
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        (AlarmKind.INACTIVITY, "er is weer beweging gezien"),
        (AlarmKind.VITALS, "de metingen zijn weer binnen de grenzen"),
        (AlarmKind.FALL, "de bewoner heeft met de alarmknop laten weten dat het goed gaat"),
        (AlarmKind.PERSONAL, "de melding is vanuit de woning afgemeld"),
    ],
)
def test_an_alarm_the_dwelling_withdrew_says_why_in_dutch(kind: AlarmKind, why: str) -> None:
    subject, body, short = render(ended(kind, "edge"))
    assert subject.startswith("Voorbij: ") and subject.endswith(" — Unit 3, Tuinstraat")
    assert f"van 24-11-2025 17:00:00 CET in Unit 3, Tuinstraat is voorbij: {why}." in body
    assert body.startswith("Beste Anna de Vries,\n")
    assert "U hoeft hiervoor niets meer te doen." in body
    assert why in short and len(short) <= SHORT_MAX


def test_a_fault_the_hub_cleared_and_an_operator_close_with_its_outcome_in_english() -> None:
    fault = ended(AlarmKind.TECHNICAL, "hub", detail={"key": "offline"}, source="hub")
    _, body, _ = render(fault, "en")
    assert "is over: the fault has cleared." in body
    closed = ended(AlarmKind.PERSONAL, "jan", outcome=Outcome.AMBULANCE)
    subject, body, short = render(closed, "en")
    assert subject.startswith("Over: ")
    assert "handled by the alarm centre" in body and "jan" not in body
    assert "Outcome: ambulance." in body
    assert "Nothing more to do." in short


def test_a_contact_who_closed_it_is_named() -> None:
    rec = ended(AlarmKind.FALL, "Piet Jansen (buur)", outcome=Outcome.FAMILY_HELP)
    _, body, _ = render(rec, closer="Piet Jansen (buur)")
    assert "is voorbij: afgehandeld door Piet Jansen (buur)." in body
    assert "Afloop: geholpen door familie of buren." in body


def test_a_long_label_is_cut_to_one_sms_and_a_broken_record_still_renders() -> None:
    _, _, short = render(ended(AlarmKind.INACTIVITY, "edge"), label="Woning " * 40)
    assert len(short) <= SHORT_MAX and short.startswith("Voorbij: ")
    broken = ended(AlarmKind.INACTIVITY, "edge", raised_at="not a time")
    subject, body, short = render(broken)
    assert subject.startswith("Voorbij: ") and "Unit 3, Tuinstraat" in body
    assert len(short) <= SHORT_MAX
