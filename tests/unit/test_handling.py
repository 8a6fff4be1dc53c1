"""Handling scripts per alarm kind and the call list in the routing order."""

from __future__ import annotations

from alerts import handling, routing
from alerts.model import CONTACT_ACTIONS, AlarmKind, Contact, HandlingAction


def contact(cid: str, name: str, *, phone: str | None = None, role: str = "family") -> Contact:
    return Contact(cid, "dw-001", name, f"{cid}@example.org", phone=phone, role=role)


ANNA = contact("c-anna", "Anna de Vries", phone="+31 6 1234 5678")
PIET = contact("c-piet", "Piet Bakker", phone="06-87654321", role="neighbour")
KEES = contact("c-kees", "Kees Smit")  # no phone number known
INSTALL = contact("c-inst", "Installatiebedrijf Oost", phone="020 123 4567", role="installer")
CONTACTS = [ANNA, PIET, KEES, INSTALL]  # the registry's priority order


def test_every_kind_has_a_script_in_both_languages_offering_known_actions() -> None:
    for kind in AlarmKind:
        steps = handling.script(kind)
        assert 2 <= len(steps) <= 4, kind
        keys = [st.key for st in steps]
        assert len(set(keys)) == len(keys), kind
        for st in steps:
            assert st.nl and st.en and st.nl != st.en
            assert st.text("nl") == st.nl and st.text("en") == st.en
            assert st.text("fr") == st.nl  # an unknown language reads Dutch
            assert st.actions and all(isinstance(a, HandlingAction) for a in st.actions)


def test_scripts_follow_the_kind_of_alarm() -> None:
    def first_actions(kind: AlarmKind) -> tuple[HandlingAction, ...]:
        return handling.script(kind)[0].actions

    # A pendant press, a fall or a long lie: talk to the resident first, help second (a
    # fall: before the family, who may be far away).
    for kind in (AlarmKind.PERSONAL, AlarmKind.FALL, AlarmKind.LONG_LIE):
        assert HandlingAction.SPOKE_VIA_INTERCOM in first_actions(kind)
    for kind in (AlarmKind.FALL, AlarmKind.LONG_LIE):
        assert HandlingAction.CALLED_AMBULANCE in handling.script(kind)[1].actions
    assert "lang op de grond" in handling.script(AlarmKind.LONG_LIE)[0].nl
    assert "geen beweging" in handling.script(AlarmKind.INACTIVITY)[0].nl
    # Vital signs: the measurements, then medical advice (the GP, 112).
    vitals = handling.script(AlarmKind.VITALS)
    assert "NEWS2" in vitals[0].nl and "NEWS2" in vitals[1].en
    assert HandlingAction.CALLED_GP in vitals[1].actions
    # Technical: no ambulance, a fault report instead.
    technical = [a for st in handling.script(AlarmKind.TECHNICAL) for a in st.actions]
    assert HandlingAction.REPORTED_FAULT in technical
    assert HandlingAction.CALLED_AMBULANCE not in technical
    for kind in AlarmKind:
        offered = {a for st in handling.script(kind) for a in st.actions}
        assert offered >= CONTACT_ACTIONS, kind  # every script has the call list in it


def test_every_action_has_a_label_in_both_languages() -> None:
    for action in HandlingAction:
        nl, en = handling.action_label(action, "nl"), handling.action_label(action, "en")
        assert nl and en and nl != en
    assert handling.action_label(HandlingAction.CALLED_AMBULANCE, "nl") == "112 gebeld (ambulance)"
    assert handling.action_label(HandlingAction.CALLED_RESIDENT, "de") == "Bewoner gebeld"


def test_the_call_list_follows_the_routing_order_then_lists_the_rest() -> None:
    policy = routing.Policy(
        recipients=(routing.Recipient("c-piet", 60), routing.Recipient("c-anna", 120)),
        installer="c-inst",
    )
    calls = handling.call_list(policy, CONTACTS)
    assert [(c.contact_id, c.step) for c in calls] == [
        ("c-piet", 1),
        ("c-anna", 2),
        ("c-kees", None),  # not asked by the routing: listed after, in priority order
        ("c-inst", None),
    ]
    first = calls[0]
    assert (first.name, first.role, first.phone, first.has_phone) == (
        "Piet Bakker",
        "neighbour",
        "06-87654321",
        True,
    )
    kees = calls[2]
    assert kees.phone is None and not kees.has_phone  # listed, flagged
    assert [c.installer for c in calls] == [False, False, False, True]


def test_a_technical_alarms_call_list_starts_with_the_installer() -> None:
    policy = routing.default_policy(CONTACTS, 120.0)
    assert policy.installer == "c-inst"
    calls = handling.call_list(policy, CONTACTS, kind=AlarmKind.TECHNICAL)
    assert [(c.contact_id, c.step) for c in calls] == [
        ("c-inst", 1),
        ("c-anna", 2),
        ("c-piet", 3),
        ("c-kees", 4),
    ]
    resident = handling.call_list(policy, CONTACTS, kind=AlarmKind.FALL)
    assert [(c.contact_id, c.step) for c in resident][-1] == ("c-inst", None)


def test_the_call_list_leaves_out_what_the_dwelling_no_longer_has() -> None:
    # A stored policy may still name a contact that has since been removed.
    policy = routing.Policy(
        recipients=(routing.Recipient("c-gone", 60), routing.Recipient("c-anna", 60))
    )
    blank = contact("c-blank", "Zonder Nummer", phone="   ")
    calls = handling.call_list(policy, [ANNA, blank])
    assert [(c.contact_id, c.step, c.phone) for c in calls] == [
        ("c-anna", 1, "+31 6 1234 5678"),
        ("c-blank", None, None),
    ]
    assert handling.call_list(routing.DEFAULT_POLICY, []) == []
