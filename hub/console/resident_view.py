"""The resident card as the console shows it: a pure view model (`resident_panel`) for
the panel on the dwelling page and the alarm page (template `_resident.html`), and the
audit trail's rows (`audit_rows`). No I/O: the card, the call list and the time come in.

The panel never holds a secret: only whether a key-safe code and care notes are stored.
They are fetched one at a time, each fetch audited (hub.registry), by resident.js or the
no-JavaScript form (hub.console.residents)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from alerts.present import duration, moment
from alerts.routing import format_window
from alerts.texts import ROLE_LABELS, local_datetime
from hub.console.texts import UI
from hub.console.texts_resident import AUDIT_ACTIONS, AUDIT_ROLES, AUDIT_SOURCES, FIELD_LABELS
from hub.context import AuditEntry, ResidentCard
from hub.resident_card import Callee


@dataclass(frozen=True, slots=True)
class Phone:
    text: str  # as written on the card ("030 123 4567")
    href: str  # a tel: link ("tel:0301234567")


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A contact on the call list, in the order the routing asks them."""

    step: int | None  # 1 is called first; None: not asked about a resident's alarm
    name: str
    role: str  # the role as the operator reads it ("buur")
    phone: Phone | None
    notes: tuple[str, ...]  # "wacht 1 min", "bereikbaar ma-vr 08:00-18:00", ...


@dataclass(frozen=True, slots=True)
class ResidentPanel:
    dwelling: str
    filled_in: bool  # False: nobody has filled in the card yet
    name: str
    first_name: str
    born: str  # "15-03-1941", "" when unknown
    age: int | None
    address: str
    access: str
    gp_name: str
    gp_phone: Phone | None
    phone: Phone | None
    news2_scale: int
    scale: str  # "Schaal 2 (voorgeschreven, doel 88-92 %)"
    on_oxygen: bool
    patient_id: str
    has_key_safe: bool
    has_care_notes: bool
    contacts: tuple[ContactRow, ...]
    updated: str  # "Bijgewerkt 14:02:10 door coco", "" when never
    editor: bool  # the operator may edit the card and read the audit trail
    reason: str = ""  # sent with a reveal, for the audit row (e.g. "alarm 01J…")
    broken: bool = False  # True: the card could not be read or shown ("niet weer te geven")


def broken_panel(dwelling: str, *, editor: bool = False) -> ResidentPanel:
    """What the panel shows when the card cannot be read or formatted: the page stays."""
    return ResidentPanel(
        dwelling=dwelling, filled_in=False, name="", first_name="", born="", age=None,
        address="", access="", gp_name="", gp_phone=None, phone=None, news2_scale=1,
        scale="", on_oxygen=False, patient_id="", has_key_safe=False, has_care_notes=False,
        contacts=(), updated="", editor=editor, broken=True,
    )  # fmt: skip


def tel(phone: str | None) -> Phone | None:
    """A phone number with its tel: link (digits and a leading +), or None without one."""
    if phone is None or not phone.strip():
        return None
    text = " ".join(phone.split())
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return None
    return Phone(text, "tel:" + ("+" if text.startswith("+") else "") + digits)


def age(born: date, today: date) -> int:
    """Whole years; someone born on 29 February is a year older on 1 March."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def resident_panel(
    card: ResidentCard,
    callees: Sequence[Callee],
    lang: str,
    now: float,
    tz: str,
    *,
    editor: bool = False,
    reason: str = "",
) -> ResidentPanel:
    """The card and its call list (hub.resident_card.call_list: routing order) as the
    operator reads them; the age on `now`'s date in `tz` (today, injected)."""
    t = UI[lang]
    local = local_datetime(now, tz)
    today = local.date() if local is not None else None  # no calendar date: no age
    born = card.date_of_birth
    filled_in = card.updated_at is not None or bool(card.name or card.first_name)
    updated = ""
    if card.updated_at is not None:
        updated = t["rc_updated"].format(
            when=moment(card.updated_at, tz, now, lang), who=card.updated_by or "?"
        )
    return ResidentPanel(
        dwelling=card.dwelling,
        filled_in=filled_in,
        name=card.name,
        first_name=card.first_name,
        born=born.strftime("%d-%m-%Y") if born else "",
        age=age(born, today) if born and today and born <= today else None,
        address=card.address,
        access=card.access,
        gp_name=card.gp_name,
        gp_phone=tel(card.gp_phone),
        phone=tel(card.phone),
        news2_scale=card.news2_scale,
        scale=t["rc_scale_2"] if card.news2_scale == 2 else t["rc_scale_1"],
        on_oxygen=card.on_oxygen,
        patient_id=card.institution_patient_id or "",
        has_key_safe=card.has_key_safe,
        has_care_notes=card.has_care_notes,
        contacts=tuple(_contact_row(c, lang) for c in callees),
        updated=updated,
        editor=editor,
        reason=reason,
    )


def _contact_row(c: Callee, lang: str) -> ContactRow:
    t = UI[lang]
    notes: list[str] = []
    if c.step is not None and c.wait_s is not None:
        notes.append(t["rc_wait"].format(n=duration(c.wait_s, lang)))
    if c.contact.windows:
        notes.append(
            t["rc_windows"].format(when=", ".join(format_window(w) for w in c.contact.windows))
        )
    if c.installer:
        notes.append(t["rc_installer"])
    if c.step is None and not c.installer:
        notes.append(t["rc_not_asked"])
    return ContactRow(
        step=c.step,
        name=" ".join(c.contact.name.split()),
        role=ROLE_LABELS[lang].get(c.contact.role, c.contact.role),
        phone=tel(c.contact.phone),
        notes=tuple(notes),
    )


# -- the audit trail ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRow:
    when: str
    who: str
    role: str
    what: str
    known: bool  # False: an action the console has no label for, shown as recorded
    dwelling: str  # its label, "" for a row about no dwelling
    dwelling_id: str
    detail: str
    source: str


def audit_rows(
    entries: Sequence[AuditEntry],
    labels: dict[str, str],
    lang: str,
    now: float,
    tz: str,
) -> list[AuditRow]:
    """The audit trail as the page shows it, in the order given (newest first);
    `labels` names the dwellings (a removed one is shown by its id)."""
    actions = AUDIT_ACTIONS[lang]
    return [
        AuditRow(
            when=moment(e.at, tz, now, lang),
            who=e.actor,
            role=AUDIT_ROLES[lang].get(e.role, e.role),
            what=actions.get(e.action, e.action),
            known=e.action in actions,
            dwelling=labels.get(e.dwelling, e.dwelling) if e.dwelling else "",
            dwelling_id=e.dwelling or "",
            detail=audit_detail(e.detail, lang),
            source=AUDIT_SOURCES[lang].get(e.source, e.source),
        )
        for e in entries
    ]


def audit_detail(detail: str, lang: str) -> str:
    """The registry's detail in the reader's language: "changed: gp_phone, care_notes"
    names the fields, "none stored" a reveal of nothing; a reason is shown as given."""
    t = UI[lang]
    fields = FIELD_LABELS[lang]
    if detail.startswith("changed: "):
        names = [n.strip() for n in detail.removeprefix("changed: ").split(",")]
        return t["audit_changed"].format(fields=", ".join(fields.get(n, n) for n in names))
    parts = detail.split("; ")
    return "; ".join(t["audit_none_stored"] if p == "none stored" else p for p in parts)
