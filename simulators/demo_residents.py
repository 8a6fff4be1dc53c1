"""The demo's resident cards: who lives in each demo dwelling (all fictitious).

Names, phone numbers (Dutch numbers whose subscriber part starts with 0 do not exist) and
care notes are made up and say so; each key-safe code is drawn at random when the demo
seeds its registry, so no code is in the repository. Dwelling 4 is the resident with the
NEWS2 episode (heart failure, SpO2 scale 1 on air: the plan its simulated edge scores with).
"""

from __future__ import annotations

import secrets
from typing import Final

from hub.context import Actor
from hub.registry import Registry

# Who seeds, for the audit trail.
SEEDER: Final = Actor("mz-demo", "admin", "demo")

# dwelling -> the card's fields (hub.resident_card.FIELDS), without the key-safe code.
DEMO_RESIDENTS: Final[dict[str, dict[str, object]]] = {
    "dw-001": {
        "name": "Truus Voorbeeld (fictief)",
        "first_name": "Truus",
        "date_of_birth": "1937-03-14",
        "address": "Tuinstraat 12, Utrecht",
        "access": "Sleutelkluis rechts naast de voordeur, achter de regenpijp. Eerst aanbellen:"
        " mevrouw hoort slecht en schrikt snel.",
        "gp_name": "Huisartsenpraktijk De Voorbeeldhoek (fictief)",
        "gp_phone": "030 000 0101",
        "phone": "030 000 0201",
        "news2_scale": 1,
        "on_oxygen": False,
        "institution_patient_id": "DEMO-0001",
        "care_notes": "Allergie: penicilline. Antistolling: apixaban (bij een val hoofdletsel"
        " serieus nemen). Slechthorend rechts, draagt een gehoorapparaat links.",
    },
    "dw-002": {
        "name": "Kees Proefmans (fictief)",
        "first_name": "Kees",
        "date_of_birth": "1941-09-02",
        "address": "Kerklaan 3, Zeist",
        "access": "Sleutelkluis aan de achterdeur (via het tuinhek, altijd open). Kat: niet"
        " naar buiten laten.",
        "gp_name": "Gezondheidscentrum Proefpolder (fictief)",
        "gp_phone": "030 000 0102",
        "phone": "030 000 0202",
        "news2_scale": 1,
        "on_oxygen": False,
        "institution_patient_id": "DEMO-0002",
        "care_notes": "Diabetes type 2 (metformine); bij verwardheid aan een hypo denken."
        " Geen bekende allergieën.",
    },
    "dw-003": {
        "name": "Khadija Demo (fictief)",
        "first_name": "Khadija",
        "date_of_birth": "1946-01-27",
        "address": "Dorpsweg 41, Houten",
        "access": "Sleutelkluis links van de voordeur. Spreekt Nederlands en Darija; dochter"
        " Fatima tolkt zo nodig.",
        "gp_name": "Huisarts Test (fictief)",
        "gp_phone": "030 000 0103",
        "phone": "030 000 0203",
        "news2_scale": 1,
        "on_oxygen": False,
        "institution_patient_id": "DEMO-0003",
        "care_notes": "Beginnende dementie: kan 's nachts gedesoriënteerd zijn, rustig"
        " benaderen. Allergie: pinda's.",
    },
    "dw-004": {
        "name": "Wim Testman (fictief)",
        "first_name": "Wim",
        "date_of_birth": "1944-06-21",
        "address": "Molenweg 8, Bunnik",
        "access": "Sleutelkluis naast de garagedeur. Hond (Bello) in de bijkeuken.",
        "gp_name": "Huisartsenpraktijk Molenwijk (fictief)",
        "gp_phone": "030 000 0104",
        "phone": "030 000 0204",
        # The card's care plan is the one the demo's edge scores with (scale 1, air): the
        # card and the NEWS2 the console shows must agree.
        "news2_scale": 1,
        "on_oxygen": False,
        "institution_patient_id": "DEMO-0004",
        "care_notes": "Hartfalen (NYHA II), diuretica; dagelijks wegen. Streefsaturatie"
        " >= 94% (NEWS2 SpO2-schaal 1). Geen bekende allergieën. Geen antistolling.",
    },
}


def new_key_safe_code() -> str:
    """Four random digits, as most key safes take."""
    return f"{secrets.randbelow(10_000):04d}"


def seed_residents(registry: Registry, now: float) -> None:
    """Give each demo dwelling in the registry its card and a fresh key-safe code."""
    for dwelling, card in DEMO_RESIDENTS.items():
        if registry.dwelling(dwelling) is not None:
            changes = {**card, "key_safe_code": new_key_safe_code()}
            registry.update_resident(dwelling, changes, SEEDER, now)
