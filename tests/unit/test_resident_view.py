"""The resident panel's view model (hub.console.resident_view): age on the injected day,
tel: links, the call list in routing order, no secret in it; the audit trail's rows."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime

import pytest

from alerts.model import Contact
from alerts.routing import Policy, Recipient, parse_window
from hub.console.resident_view import Phone, age, audit_rows, resident_panel, tel
from hub.context import AuditEntry, ResidentCard
from hub.resident_card import call_list

TZ = "Europe/Amsterdam"


def at(y: int, m: int, d: int, hour: int = 12) -> float:
    return datetime(y, m, d, hour, tzinfo=UTC).timestamp()


NOW = at(2025, 11, 24, 16)  # 17:00 in Amsterdam
CARD = ResidentCard(
    dwelling="dw-001",
    name="Truus Voorbeeld",
    first_name="Truus",
    date_of_birth=date(1938, 11, 25),
    address="Tuinstraat 12, Utrecht",
    access="Sleutelkluis links van de deur.\nBel eerst aan.",
    gp_name="Dr. Jansen",
    gp_phone="030 - 000 0101",
    phone="+31 30 000 0001",
    news2_scale=2,
    on_oxygen=True,
    institution_patient_id="DEMO-0001",
    has_key_safe=True,
    has_care_notes=False,
    updated_at=NOW - 3600,
    updated_by="coco",
)
ANNA = Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org", priority=1)
JAN = Contact(
    "c-jan", "dw-001", "Jan  Buurman", None, priority=2, phone="+31 6 1111 2222",
    role="neighbour", windows=(parse_window("ma-vr 08:00-18:00"),),
)  # fmt: skip
PIET = Contact(
    "c-piet", "dw-001", "Piet Monteur", None, priority=3, phone="06-9999 0000", role="installer"
)


@pytest.mark.parametrize(
    ("born", "today", "years"),
    [
        (date(1938, 11, 25), date(2025, 11, 24), 86),  # the day before the birthday
        (date(1938, 11, 25), date(2025, 11, 25), 87),  # on it
        (date(1940, 2, 29), date(2025, 2, 28), 84),  # a leap-day birthday, not yet
        (date(1940, 2, 29), date(2025, 3, 1), 85),
        (date(2025, 11, 24), date(2025, 11, 24), 0),
    ],
)
def test_age_in_whole_years(born: date, today: date, years: int) -> None:
    assert age(born, today) == years


def test_the_age_is_on_the_local_day_of_the_injected_time() -> None:
    # 23:30 UTC on the 24th is already the 25th (the birthday) in Amsterdam.
    late = datetime(2025, 11, 24, 23, 30, tzinfo=UTC).timestamp()
    assert resident_panel(CARD, [], "nl", NOW, TZ).age == 86
    assert resident_panel(CARD, [], "nl", late, TZ).age == 87
    assert resident_panel(CARD, [], "nl", late, "UTC").age == 86


def test_phone_numbers_become_tel_links() -> None:
    assert tel("030 - 000 0101") == Phone("030 - 000 0101", "tel:0300000101")
    found = tel("+31 6 1111 2222")
    assert found is not None and found.href == "tel:+31611112222"
    assert found.text == "+31 6 1111 2222"
    assert tel(None) is None and tel("   ") is None and tel("n.v.t.") is None
    panel = resident_panel(CARD, [], "nl", NOW, TZ)
    assert panel.gp_phone is not None and panel.gp_phone.href == "tel:0300000101"
    assert panel.phone is not None and panel.phone.href == "tel:+31300000001"


def test_the_card_as_the_operator_reads_it() -> None:
    panel = resident_panel(CARD, [], "nl", NOW, TZ, editor=True, reason="alarm a-1")
    assert (panel.name, panel.first_name, panel.born) == ("Truus Voorbeeld", "Truus", "25-11-1938")
    assert panel.scale == "Schaal 2 (voorgeschreven, doel 88-92 %)" and panel.on_oxygen
    assert panel.patient_id == "DEMO-0001" and panel.address == "Tuinstraat 12, Utrecht"
    assert (panel.has_key_safe, panel.has_care_notes) == (True, False)
    assert panel.updated == "Bijgewerkt 16:00:00 door coco"  # 15:00 UTC is 16:00 in Amsterdam
    assert panel.editor and panel.reason == "alarm a-1" and panel.filled_in
    english = resident_panel(CARD, [], "en", NOW, TZ)
    assert english.scale.startswith("Scale 2") and not english.editor
    # A new card (nobody filled it in) says so; scale 1 is the default.
    empty = resident_panel(ResidentCard("dw-002"), [], "nl", NOW, TZ)
    assert not empty.filled_in and empty.age is None and empty.scale == "Schaal 1"


def test_the_panel_holds_no_secret() -> None:
    names = {f.name for f in fields(resident_panel(CARD, [], "nl", NOW, TZ))}
    assert "key_safe_code" not in names and "care_notes" not in names
    assert {"has_key_safe", "has_care_notes"} <= names


def test_contacts_in_routing_order_with_tel_links() -> None:
    # The routing asks Jan first (60 s), then Anna; Piet is the installer, not asked.
    policy = Policy((Recipient("c-jan", 60.0), Recipient("c-anna", 120.0)), installer="c-piet")
    callees = call_list(policy, [ANNA, JAN, PIET])
    rows = resident_panel(CARD, callees, "nl", NOW, TZ).contacts
    assert [(r.step, r.name, r.role) for r in rows] == [
        (1, "Jan Buurman", "buur"),
        (2, "Anna de Vries", "mantelzorger"),
        (None, "Piet Monteur", "installateur"),
    ]
    assert [r.phone.href if r.phone else None for r in rows] == [
        "tel:+31611112222",
        None,
        "tel:0699990000",
    ]
    assert rows[0].notes == ("wacht 1 min", "bereikbaar ma-vr 08:00-18:00")
    assert rows[1].notes == ("wacht 2 min",)
    assert rows[2].notes == ("technische storingen",)
    english = resident_panel(CARD, callees, "en", NOW, TZ).contacts
    assert english[0].role == "neighbour" and english[0].notes[0] == "waits 1 min"


def test_audit_rows_in_the_readers_language() -> None:
    entries = [
        AuditEntry(3, NOW - 60, "coco", "coordinator", "resident.update", "dw-001",
                   "changed: gp_phone, key_safe_code", "console"),
        AuditEntry(2, NOW - 120, "jan", "operator", "resident.key_safe.view", "dw-001",
                   "alarm a-1; none stored", "api"),
        AuditEntry(1, NOW - 86400 * 3, "root", "admin", "report.export", None, "", "cli"),
    ]  # fmt: skip
    rows = audit_rows(entries, {"dw-001": "Unit 3, Tuinstraat"}, "nl", NOW, TZ)
    assert [(r.who, r.role, r.what, r.known, r.dwelling, r.source) for r in rows] == [
        ("coco", "zorgcoördinator", "Bewonerskaart gewijzigd", True, "Unit 3, Tuinstraat",
         "console"),
        ("jan", "operator", "Sleutelkluiscode ingezien", True, "Unit 3, Tuinstraat", "API"),
        ("root", "beheerder", "report.export", False, "", "mz admin"),
    ]  # fmt: skip
    assert rows[0].detail == "gewijzigd: telefoon huisarts, sleutelkluiscode"
    assert rows[1].detail == "alarm a-1; niets opgeslagen"
    assert rows[0].when == "16:59:00" and rows[2].when == "21-11-2025 17:00:00"
    english = audit_rows(entries[:1], {}, "en", NOW, TZ)
    assert english[0].detail == "changed: GP phone, key-safe code"
    assert english[0].dwelling == "dw-001"  # a removed dwelling: by its id
