"""How an operator handles an alarm: a short script per alarm kind, and the call list.

Pure, no I/O. The script is what an alarm-centre operator works through (after the
protocols of receiving centres such as Tunstall PNC and Verklizan UMO: talk to the
resident, call the family in order, send help); each step offers the handling actions
(`HandlingAction`) the operator records on the alarm's timeline. The call list is the
dwelling's contacts in the order the routing policy asks them, with their phone numbers.
Texts are here in Dutch and English (docs/alerts.md, "Claiming and handling").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from alerts.model import AlarmKind, Contact, HandlingAction
from alerts.routing import Policy
from alerts.texts import language

__all__ = ["ACTION_LABELS", "Call", "ScriptStep", "action_label", "call_list", "script"]

A = HandlingAction

# What each action reads as on a button and on the timeline.
ACTION_LABELS: Final[dict[str, dict[HandlingAction, str]]] = {
    "nl": {
        A.CALLED_RESIDENT: "Bewoner gebeld",
        A.SPOKE_VIA_INTERCOM: "Gesproken via de spreek-luisterverbinding",
        A.RESIDENT_ANSWERED: "Bewoner bereikt",
        A.RESIDENT_NO_ANSWER: "Bewoner niet bereikt",
        A.CALLED_CONTACT: "Contactpersoon gebeld",
        A.CONTACT_REACHED: "Contactpersoon bereikt",
        A.CONTACT_NOT_REACHED: "Contactpersoon niet bereikt",
        A.CALLED_GP: "Huisarts of huisartsenpost gebeld",
        A.SENT_CARE_PROVIDER: "Zorgverlener gestuurd",
        A.CALLED_AMBULANCE: "112 gebeld (ambulance)",
        A.REPORTED_FAULT: "Storing gemeld",
    },
    "en": {
        A.CALLED_RESIDENT: "Called the resident",
        A.SPOKE_VIA_INTERCOM: "Spoke over the speech link",
        A.RESIDENT_ANSWERED: "Resident answered",
        A.RESIDENT_NO_ANSWER: "No answer from the resident",
        A.CALLED_CONTACT: "Called a contact",
        A.CONTACT_REACHED: "Contact reached",
        A.CONTACT_NOT_REACHED: "Contact not reached",
        A.CALLED_GP: "Called the GP or out-of-hours GP service",
        A.SENT_CARE_PROVIDER: "Care provider sent",
        A.CALLED_AMBULANCE: "Called 112 (ambulance)",
        A.REPORTED_FAULT: "Fault reported",
    },
}


def action_label(action: HandlingAction, lang: str) -> str:
    return ACTION_LABELS[language(lang)][action]


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One step of a script: what to do (`nl`, `en`) and the actions it offers."""

    key: str  # stable, for the console ("call_contacts")
    nl: str
    en: str
    actions: tuple[HandlingAction, ...]

    def text(self, lang: str) -> str:
        return self.en if language(lang) == "en" else self.nl


_RESIDENT = (A.CALLED_RESIDENT, A.RESIDENT_ANSWERED, A.RESIDENT_NO_ANSWER)
_SPEAK = (A.SPOKE_VIA_INTERCOM, *_RESIDENT)
_CONTACTS = (A.CALLED_CONTACT, A.CONTACT_REACHED, A.CONTACT_NOT_REACHED)
_HELP = (A.SENT_CARE_PROVIDER, A.CALLED_AMBULANCE)

_CALL_CONTACTS = ScriptStep(
    "call_contacts",
    "Bel de contactpersonen in de volgorde van de bellijst: wie kan er gaan, en wie moet "
    "het weten?",
    "Call the contacts in the order of the call list: who can go, and who needs to know?",
    _CONTACTS,
)
_FALL_HELP = ScriptStep(
    "send_help",
    "Geen reactie, gewond, of komt de bewoner niet zelf overeind: stuur direct hulp, een "
    "zorgverlener of, bij ernstig letsel of bewusteloosheid, 112.",
    "No response, hurt, or unable to get up alone: send help at once, a care provider or, "
    "for serious injury or unconsciousness, 112.",
    _HELP,
)

SCRIPTS: Final[dict[AlarmKind, tuple[ScriptStep, ...]]] = {
    AlarmKind.PERSONAL: (
        ScriptStep(
            "talk_to_resident",
            "Spreek de bewoner aan via de spreek-luisterverbinding of bel de bewoner: wat "
            "is er aan de hand, is er hulp nodig?",
            "Talk to the resident over the speech link or call them: what is wrong, do they "
            "need help?",
            _SPEAK,
        ),
        ScriptStep(
            "call_contacts",
            "Is er hulp nodig, of krijgt u geen contact: bel de contactpersonen in de "
            "volgorde van de bellijst en vraag wie er kan gaan.",
            "Help needed, or no contact: call the contacts in the order of the call list "
            "and ask who can go.",
            _CONTACTS,
        ),
        ScriptStep(
            "send_help",
            "Kan niemand (snel genoeg) gaan: stuur een zorgverlener. Bij letsel, "
            "benauwdheid of geen reactie: bel 112.",
            "Nobody can go (soon enough): send a care provider. Injury, breathlessness or "
            "no response: call 112.",
            _HELP,
        ),
    ),
    AlarmKind.FALL: (
        ScriptStep(
            "talk_to_resident",
            "Spreek de bewoner aan via de spreek-luisterverbinding of bel de bewoner: is de "
            "bewoner gevallen, gewond, kan hij of zij zelf opstaan?",
            "Talk to the resident over the speech link or call them: did they fall, are "
            "they hurt, can they get up on their own?",
            _SPEAK,
        ),
        _FALL_HELP,
        _CALL_CONTACTS,
    ),
    AlarmKind.LONG_LIE: (
        ScriptStep(
            "talk_to_resident",
            "De bewoner ligt mogelijk al lang op de grond. Spreek de bewoner aan via de "
            "spreek-luisterverbinding of bel: is de bewoner aanspreekbaar, gewond?",
            "The resident may have been on the floor for a long time. Talk to them over "
            "the speech link or call: are they responsive, hurt?",
            _SPEAK,
        ),
        _FALL_HELP,
        _CALL_CONTACTS,
    ),
    AlarmKind.INACTIVITY: (
        ScriptStep(
            "call_resident",
            "Bel de bewoner: in de woning is al een tijd geen beweging gezien. Neemt de "
            "bewoner op, dan is er meestal niets aan de hand (uitgeslapen, van huis).",
            "Call the resident: no movement has been seen in the dwelling for a while. If "
            "they answer, all is usually well (a lie-in, out of the house).",
            _SPEAK,
        ),
        ScriptStep(
            "call_contacts",
            "Geen antwoord: bel de contactpersonen in de volgorde van de bellijst. Weten "
            "zij waar de bewoner is, of kan iemand gaan kijken?",
            "No answer: call the contacts in the order of the call list. Do they know "
            "where the resident is, or can someone go and look?",
            _CONTACTS,
        ),
        ScriptStep(
            "send_help",
            "Niemand bereikt, of niemand kan gaan kijken: stuur een zorgverlener.",
            "Nobody reached, or nobody can go and look: send a care provider.",
            _HELP,
        ),
    ),
    AlarmKind.VITALS: (
        ScriptStep(
            "call_resident",
            "Bekijk de metingen achter de NEWS2-score en bel de bewoner: hoe voelt de "
            "bewoner zich? Laat zo mogelijk opnieuw meten.",
            "Look at the measurements behind the NEWS2 score and call the resident: how do "
            "they feel? Have them measure again if possible.",
            _RESIDENT,
        ),
        ScriptStep(
            "medical_advice",
            "NEWS2 5 of hoger, of 3 punten op één meting: overleg met de huisarts of de "
            "huisartsenpost. NEWS2 7 of hoger, of is de bewoner erg ziek: bel 112.",
            "NEWS2 5 or more, or 3 points on one measurement: consult the GP or the "
            "out-of-hours GP service. NEWS2 7 or more, or the resident is very unwell: "
            "call 112.",
            (A.CALLED_GP, *_HELP),
        ),
        ScriptStep(
            "inform_contacts",
            "Laat de contactpersonen weten wat er aan de hand is en wat er is afgesproken.",
            "Tell the contacts what is going on and what was agreed.",
            _CONTACTS,
        ),
    ),
    AlarmKind.TECHNICAL: (
        ScriptStep(
            "call_resident",
            "Bel de bewoner: gaat het goed? Vraag of de apparatuur stroom heeft en aanstaat "
            "(stekker, stopcontact, internet).",
            "Call the resident: are they all right? Ask whether the equipment has power "
            "and is switched on (plug, socket, internet).",
            _RESIDENT,
        ),
        ScriptStep(
            "report_fault",
            "Meld de storing bij de installateur (zie de bellijst) of de leverancier.",
            "Report the fault to the installer (see the call list) or the supplier.",
            (A.REPORTED_FAULT, *_CONTACTS),
        ),
        ScriptStep(
            "call_contacts",
            "Bewoner niet bereikt terwijl de woning geen verbinding heeft: vraag een "
            "contactpersoon om te gaan kijken.",
            "Resident not reached while the dwelling has no connection: ask a contact to "
            "go and look.",
            _CONTACTS,
        ),
    ),
}


def script(kind: AlarmKind) -> tuple[ScriptStep, ...]:
    """The steps an operator works through for an alarm of this kind."""
    return SCRIPTS[kind]


@dataclass(frozen=True, slots=True)
class Call:
    """One line of the call list. `step`: the contact's place in the routing order (1 is
    asked first), None for a contact the routing does not ask about this alarm (listed
    after the others). `phone` None: no number known (still listed, `has_phone` False)."""

    contact_id: str
    name: str
    role: str
    phone: str | None
    language: str
    step: int | None
    installer: bool = False

    @property
    def has_phone(self) -> bool:
        return bool(self.phone and self.phone.strip())


def call_list(
    policy: Policy, contacts: Sequence[Contact], *, kind: AlarmKind | None = None
) -> list[Call]:
    """The dwelling's `contacts` in the order its routing `policy` asks them: its
    recipients in order (for a technical alarm the installer first, as the routing tells
    them first), then every other contact in the order given (priority order). A policy
    entry without a contact (removed meanwhile) is left out."""
    by_id = {c.id: c for c in contacts}
    order = [r.contact_id for r in policy.recipients]
    if kind is AlarmKind.TECHNICAL and policy.installer is not None:
        order = [policy.installer, *(c for c in order if c != policy.installer)]
    routed = [cid for cid in dict.fromkeys(order) if cid in by_id]
    rest = [c.id for c in contacts if c.id not in routed]
    return [
        Call(
            contact_id=c.id,
            name=c.name,
            role=c.role,
            phone=c.phone.strip() if c.phone and c.phone.strip() else None,
            language=c.language,
            step=i + 1 if i < len(routed) else None,
            installer=c.id == policy.installer,
        )
        for i, c in enumerate(by_id[cid] for cid in (*routed, *rest))
    ]
