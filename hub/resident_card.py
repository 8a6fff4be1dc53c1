"""The resident card's fields and their checks (pure: no I/O, the date comes in).

`clean(changes, today)` turns what a coordinator asks to change (from `mz admin`, the
API) into stored values, or raises hub.errors.InvalidValue naming the field. The registry
(hub.registry) stores them and keeps the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from alerts.model import Contact
from alerts.routing import Policy
from hub.errors import InvalidValue

# A phone number as people write it: an optional +, then digits, spaces and dashes.
PHONE: Final = re.compile(r"\+?[0-9][0-9 -]{4,22}[0-9]")
# Key safes (push-button or dial) open with 3-16 digits, on some models letters too.
KEY_SAFE: Final = re.compile(r"[0-9A-Za-z]{3,16}")
# The care organisation's patient identifier: a token (FHIR Identifier.value), no spaces.
PATIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
OLDEST_BIRTH: Final = date(1900, 1, 1)
NEWS2_SCALES: Final = (1, 2)

# One line of text each, at most this long.
LINE_FIELDS: Final = {"name": 100, "first_name": 50, "address": 200, "gp_name": 100}
# Several lines allowed.
TEXT_FIELDS: Final = {"access": 500, "care_notes": 2000}
PHONE_FIELDS: Final = ("gp_phone", "phone")
# What the normal card view shows, in the order `mz admin resident show` prints them.
CARD_FIELDS: Final = (
    "name",
    "first_name",
    "date_of_birth",
    "address",
    "access",
    "gp_name",
    "gp_phone",
    "phone",
    "news2_scale",
    "on_oxygen",
    "institution_patient_id",
)
# Read only one at a time, each read audited; an edit's audit row names them, never
# their values.
SECRET_FIELDS: Final = ("key_safe_code", "care_notes")
FIELDS: Final = CARD_FIELDS + SECRET_FIELDS
# Who may change a card. Every console role may view it and reveal its secrets (audited).
EDITOR_ROLES: Final = frozenset({"coordinator", "admin"})

Value = str | int | bool | date | None


def clean(changes: Mapping[str, object], today: date) -> dict[str, Value]:
    """Each change checked and put in its stored form: text stripped (an empty optional
    value is None, an empty text is ""), a date of birth as a date."""
    return {name: _clean(name, value, today) for name, value in changes.items()}


def _clean(name: str, value: object, today: date) -> Value:
    if name in LINE_FIELDS:
        return _line(name, value, LINE_FIELDS[name])
    if name in TEXT_FIELDS:
        return _text(name, value, TEXT_FIELDS[name])
    if name in PHONE_FIELDS:
        phone = _line(name, value, 30)
        if phone and not PHONE.fullmatch(phone):
            raise InvalidValue(
                name, f"not a phone number: {phone!r} (digits, spaces, '-', an optional '+')"
            )
        return phone or None
    if name == "date_of_birth":
        return _birth(value, today)
    if name == "news2_scale":
        if isinstance(value, bool) or value not in NEWS2_SCALES:
            raise InvalidValue(name, f"the SpO2 scale is 1 or 2, not {value!r}")
        return value
    if name == "on_oxygen":
        if not isinstance(value, bool):
            raise InvalidValue(name, f"true or false, not {value!r}")
        return value
    if name == "institution_patient_id":
        ident = _line(name, value, 64)
        if ident and not PATIENT_ID.fullmatch(ident):
            raise InvalidValue(
                name,
                "letters, digits and . _ : / -, 1-64 characters, starting with a letter or digit",
            )
        return ident or None
    if name == "key_safe_code":
        code = _line(name, value, 16)
        if code and not KEY_SAFE.fullmatch(code):
            # The value itself stays out of the message: it is a secret.
            raise InvalidValue(name, "3-16 digits or letters, nothing else")
        return code
    raise InvalidValue(name, f"not a field of the resident card (one of {', '.join(FIELDS)})")


def _line(name: str, value: object, max_len: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(name, f"text expected, not {type(value).__name__}")
    text = value.strip()
    if not text.isprintable():
        raise InvalidValue(name, "one line of text, without control characters")
    if len(text) > max_len:
        raise InvalidValue(name, f"at most {max_len} characters ({len(text)} given)")
    return text


def _text(name: str, value: object, max_len: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(name, f"text expected, not {type(value).__name__}")
    text = value.replace("\r\n", "\n").strip()
    if not all(ch.isprintable() or ch in "\n\t" for ch in text):
        raise InvalidValue(name, "text without control characters (new lines are fine)")
    if len(text) > max_len:
        raise InvalidValue(name, f"at most {max_len} characters ({len(text)} given)")
    return text


def _birth(value: object, today: date) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue("date_of_birth", f"not a date: {value!r} (YYYY-MM-DD)") from None
    if not isinstance(value, date):
        raise InvalidValue("date_of_birth", f"a date expected, not {type(value).__name__}")
    if not OLDEST_BIRTH <= value <= today:
        raise InvalidValue(
            "date_of_birth", f"{value.isoformat()} is not between {OLDEST_BIRTH} and today"
        )
    return value


@dataclass(frozen=True, slots=True)
class Callee:
    """A contact on the card's call list: `step` (1 first) and `wait_s` when the routing
    asks them about a resident's alarm, None when it does not (an installer, a contact
    left out of the dwelling's own policy)."""

    contact: Contact
    step: int | None
    wait_s: float | None
    installer: bool


def call_list(policy: Policy, contacts: Sequence[Contact]) -> list[Callee]:
    """The dwelling's contacts in the order its routing asks them, then the others in
    priority order (as `contacts` comes)."""
    by_id = {c.id: c for c in contacts}
    ordered = [
        Callee(by_id[r.contact_id], step, r.wait_s, r.contact_id == policy.installer)
        for step, r in enumerate(policy.recipients, start=1)
        if r.contact_id in by_id
    ]
    asked = {r.contact_id for r in policy.recipients}
    ordered += [
        Callee(c, None, None, c.id == policy.installer) for c in contacts if c.id not in asked
    ]
    return ordered
