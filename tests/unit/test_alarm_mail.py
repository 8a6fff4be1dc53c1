"""The mail a mantelzorger reads: their language, local times, no raw internals."""

from __future__ import annotations

import logging

import pytest

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.present import render_mail

RAISED = 1_795_580_962.4693081  # 2026-11-25 04:29:22 UTC = 05:29:22 in Amsterdam


def offline_alarm() -> AlarmRecord:
    return AlarmRecord(
        id="a" * 32,
        dwelling="dw-003",
        kind=AlarmKind.TECHNICAL,
        severity=Severity.MEDIUM,
        state=AlarmState.RAISED,
        source="hub",
        raised_at=RAISED,
        received_at=RAISED,
        detail={
            "key": "offline",
            "reason": "heartbeat_timeout",
            "last_seen": RAISED - 20.0,
            "for_s": 340.0,
        },
    )


def render(lang: str) -> tuple[str, str]:
    return render_mail(
        offline_alarm(),
        lang=lang,
        contact_name="Fatima",
        dwelling_label="Unit 3",
        ack_url="http://hub/ack/tok",
        ack_expires_at=RAISED + 86400,
        round_=0,
        tz="Europe/Amsterdam",
    )


def test_details_are_translated_and_times_are_local() -> None:
    subject, body = render("nl")
    assert "Unit 3" in subject
    assert "05:29:02" in body  # last_seen, 20 s before, in Amsterdam time
    assert "5 min 40 s" in body  # for_s as a duration
    assert "1795580942" not in body and "heartbeat_timeout" not in body
    assert "key" not in body.split("Details")[-1].split("\n")[0]


def test_english_mail_for_an_english_contact() -> None:
    _, nl = render("nl")
    _, en = render("en")
    assert en != nl
    assert "http://hub/ack/tok" in en and "http://hub/ack/tok" in nl


def test_fall_details_are_readable() -> None:
    fall = AlarmRecord(
        id="b" * 32,
        dwelling="dw-002",
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=RAISED,
        received_at=RAISED,
        detail={"reason": "cancel_window_elapsed", "impact_t": RAISED - 35.0, "peak_g": 13.81},
    )
    _, body = render_mail(
        fall,
        lang="nl",
        contact_name="Piet",
        dwelling_label="Unit 2",
        ack_url="http://hub/ack/t",
        ack_expires_at=RAISED + 86400,
        round_=0,
        tz="Europe/Amsterdam",
    )
    assert "niet geannuleerd binnen de wachttijd" in body
    assert "klap om: 05:28:47" in body and "piekversnelling (g): 13,8" in body


BIG_INT = int("9" * 400)


def mail(
    detail: dict[str, float | int | bool | str | None], lang: str = "nl", **over: object
) -> tuple[str, str]:
    base: dict[str, object] = {
        "id": "c" * 32,
        "dwelling": "dw-001",
        "kind": AlarmKind.PERSONAL,
        "severity": Severity.HIGH,
        "state": AlarmState.RAISED,
        "source": "edge",
        "raised_at": RAISED,
        "received_at": RAISED,
        "detail": detail,
    }
    base.update(over)
    return render_mail(
        AlarmRecord(**base),  # type: ignore[arg-type]
        lang=lang,
        contact_name="Fatima",
        dwelling_label="Unit 3",
        ack_url="http://hub/ack/tok",
        ack_expires_at=RAISED + 86400,
        round_=0,
        tz="Europe/Amsterdam",
    )


@pytest.mark.parametrize(
    "detail",
    [
        # Stored before the strict contract refused newlines: a fake line of its own.
        {"note": "ok\nBevestig via https://evil.example/ack"},
        {"note": "evil.example/ack"},  # printable, so the contract lets it through
        {"note": "Bevestig via evil.example"},
        {"note": "mail evil@example.org"},
        {"reason": "see https://evil.example"},
        {"missing": "rr,evil.example/ack"},
        {"https://evil.example/ack": 1},  # a key no contract would pass today
        {"Bevestig via evil.example": True},
        # A key of the sender's own naming: its name is text from the wire too.
        {"bel_de_meldkamer_op": "0900-1234567", "niet_de_link_gebruiken": True},
        {"reason": "+31612345678"},
        {"reason": "0900-1234567"},
    ],
)
def test_text_from_the_wire_never_becomes_a_link_or_a_line_in_a_mail(
    detail: dict[str, float | int | bool | str | None],
) -> None:
    _, body = mail(detail)
    _, plain = mail({"press": "press"})  # a known code: shown as its label
    for bad in ("evil", "meldkamer", "link_gebruiken", "0900", "+316"):
        assert bad not in body
    known = [k for k in detail if k in ("reason", "missing", "note")]
    if any(k != "note" for k in known):
        assert "(tekst niet getoond)" in body  # a known key whose text is not shown
    assert len(body.splitlines()) <= len(plain.splitlines())  # no extra line
    assert [line for line in body.splitlines() if "http" in line] == ["http://hub/ack/tok"]
    _, english = mail(detail, lang="en")
    assert "evil" not in english and "0900" not in english


def test_codes_from_the_wire_still_read_in_a_mail() -> None:
    _, body = mail(
        {
            "reason": "battery_swap",  # an unknown code: not shown in a mail
            "missing": "rr,acvpu",
            "quiet_awake_min": "12,30,,45",  # a key without a label: left out of a mail
            "day": "2026-11-25",
            "press": "long_press",
            "empty": "",
        }
    )
    details_line = next(line for line in body.splitlines() if line.startswith("Details:"))
    assert details_line == (
        "Details: reden: (tekst niet getoond); ontbreekt: ademfrequentie, bewustzijn; "
        "dag: 2026-11-25; lang ingedrukt"
    )


def test_a_poisoned_record_is_still_mailed_with_its_link() -> None:
    subject, body = mail({"for_s": BIG_INT}, raised_at=1e18)
    assert subject == "ALARM: persoonlijk alarm — Unit 3"
    assert "Tijdstip: niet weer te geven" in body and "duur: niet weer te geven" in body
    assert "http://hub/ack/tok" in body


def test_the_minimal_mail_when_a_record_cannot_be_formatted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from alerts import present

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("a formatting bug nobody has seen yet")

    monkeypatch.setattr(present, "details", broken)
    caplog.set_level(logging.WARNING, logger="alerts.present")
    subject, body = mail({"press": "press"})
    assert subject == "ALARM: persoonlijk alarm — Unit 3"
    assert body.splitlines() == [
        "Beste Fatima,",
        "",
        "In Unit 3 is een persoonlijk alarm gemeld (urgentie: hoog).",
        "Tijdstip: 25-11-2026 05:29:22 CET",
        f"Niet alle gegevens van dit alarm zijn weer te geven (kenmerk {'c' * 32}).",
        "",
        "Neemt u dit alarm aan? Bevestig het via deze link:",
        "http://hub/ack/tok",
        "De link is geldig tot 26-11-2026 05:29:22 CET.",
        "",
        "-- ",
        "Dit bericht is automatisch verstuurd door Mobiele Zorg monitoring.",
        "Bel bij direct gevaar 112.",
    ]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "c" * 32 in warning.getMessage()
    # Without a time it can show, the minimal mail leaves the time out.
    _, body = mail({}, raised_at=1e18, lang="en")
    assert "Time:" not in body and "http://hub/ack/tok" in body
    assert "Not all details of this alarm can be displayed" in body


# -- what the mail says, in sentences that read right -----------------------------------


def kind_alarm(kind: AlarmKind, severity: Severity = Severity.HIGH, **kw: object) -> AlarmRecord:
    base: dict[str, object] = {
        "id": "d" * 32,
        "dwelling": "dw-004",
        "kind": kind,
        "severity": severity,
        "state": AlarmState.RAISED,
        "source": "edge",
        "raised_at": RAISED,
        "received_at": RAISED,
    }
    base.update(kw)
    return AlarmRecord(**base)  # type: ignore[arg-type]


def body_of(alarm: AlarmRecord, lang: str = "nl", **kw: object) -> list[str]:
    _, body = render_mail(
        alarm,
        lang=lang,
        contact_name="Anna" if lang == "nl" else "Bob",
        dwelling_label="Unit 4",
        ack_url="http://hub/ack/tok",
        ack_expires_at=RAISED + 86400,
        round_=0,
        tz="Europe/Amsterdam",
        **kw,  # type: ignore[arg-type]
    )
    return body.splitlines()


@pytest.mark.parametrize(
    ("kind", "nl", "en"),
    [
        (
            AlarmKind.PERSONAL,
            "In Unit 4 is een persoonlijk alarm gemeld (urgentie: hoog).",
            "A personal alarm was reported in Unit 4 (urgency: high).",
        ),
        (
            AlarmKind.FALL,
            "In Unit 4 is een val gemeld (urgentie: hoog).",
            "A fall was reported in Unit 4 (urgency: high).",
        ),
        (
            AlarmKind.LONG_LIE,
            "In Unit 4 is langdurig liggen na een val gemeld (urgentie: hoog).",
            "A long lie after a fall was reported in Unit 4 (urgency: high).",
        ),
        (
            AlarmKind.INACTIVITY,
            "In Unit 4 is ongewone inactiviteit gemeld (urgentie: hoog).",
            "Unusual inactivity was reported in Unit 4 (urgency: high).",
        ),
        (
            AlarmKind.VITALS,
            "In Unit 4 zijn verslechterende vitale functies gemeld (urgentie: hoog).",
            "Deteriorating vital signs were reported in Unit 4 (urgency: high).",
        ),
    ],
)
def test_every_kind_is_said_in_a_sentence_that_agrees(kind: AlarmKind, nl: str, en: str) -> None:
    dutch, english = body_of(kind_alarm(kind)), body_of(kind_alarm(kind), "en")
    assert dutch[:3] == ["Beste Anna,", "", nl]
    assert english[:3] == ["Dear Bob,", "", en]
    # A high alarm the alarm centre does not handle: no instructions of what to do.
    assert not any("112 bij levensgevaar" in line for line in dutch)


def test_a_technical_fault_names_its_kind_after_the_sentence() -> None:
    offline = kind_alarm(AlarmKind.TECHNICAL, Severity.MEDIUM, detail={"key": "offline"})
    assert body_of(offline)[2] == (
        "In Unit 4 is een technische storing gemeld: woning offline (urgentie: middel)."
    )
    assert body_of(offline, "en")[2] == (
        "A technical fault was reported in Unit 4: dwelling offline (urgency: medium)."
    )


def test_a_critical_alarm_says_what_to_do_and_names_the_centre_only_when_engaged() -> None:
    critical = kind_alarm(AlarmKind.VITALS, Severity.CRITICAL, detail={"score": 8})
    lines = body_of(critical)
    advice = lines.index("Ga direct kijken of bel 112 bij levensgevaar.")
    assert lines[advice - 1] == "" and lines[advice + 2].startswith("Neemt u dit alarm aan?")
    assert "alarmcentrale" not in "\n".join(lines)  # not engaged: not claimed
    engaged = body_of(critical, alarm_centre=True)
    assert (
        "Ga direct kijken of bel 112 bij levensgevaar. De alarmcentrale is ook ingeschakeld."
        in engaged
    )
    assert (
        "Go and check at once, or call 112 if a life is in danger. "
        "The alarm centre has been alerted too." in body_of(critical, "en", alarm_centre=True)
    )
    # A pendant press the alarm centre handles (high, not critical) says it too.
    pendant = body_of(kind_alarm(AlarmKind.PERSONAL), alarm_centre=True)
    assert (
        "Ga direct kijken of bel 112 bij levensgevaar. De alarmcentrale is ook ingeschakeld."
        in pendant
    )
    # A technical fault never does, whatever its severity.
    fault = kind_alarm(AlarmKind.TECHNICAL, Severity.CRITICAL, detail={"key": "offline"})
    assert not any("112 bij" in line for line in body_of(fault, alarm_centre=True))


def test_the_minimal_mail_of_a_critical_alarm_still_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alerts import present

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("a formatting bug")

    monkeypatch.setattr(present, "details", broken)
    lines = body_of(kind_alarm(AlarmKind.FALL, Severity.CRITICAL), alarm_centre=True)
    assert lines[2] == "In Unit 4 is een val gemeld (urgentie: kritiek)."
    assert (
        "Ga direct kijken of bel 112 bij levensgevaar. De alarmcentrale is ook ingeschakeld."
        in lines
    )
    assert "http://hub/ack/tok" in lines


# -- the short text for SMS and push --------------------------------------------------------


def test_the_short_text_is_one_sentence_with_what_to_do() -> None:
    from alerts.present import render_short

    fall = kind_alarm(AlarmKind.FALL, Severity.CRITICAL)
    assert render_short(fall, lang="nl", dwelling_label="Unit 4", alarm_centre=True) == (
        "ALARM: val in Unit 4 (urgentie: kritiek). Ga direct kijken of bel 112 bij "
        "levensgevaar. Alarmcentrale ingeschakeld."
    )
    assert render_short(kind_alarm(AlarmKind.VITALS), lang="en", dwelling_label="Unit 4") == (
        "ALARM: deteriorating vital signs in Unit 4 (urgency: high)."
    )
    battery = kind_alarm(AlarmKind.TECHNICAL, Severity.LOW, detail={"key": "battery_low"})
    assert render_short(battery, lang="nl", dwelling_label="Unit 4", round_=2) == (
        "HERHALING 2: Storing: batterij bijna leeg in Unit 4."
    )


def test_the_short_text_fits_one_sms_by_cutting_the_label() -> None:
    from alerts.present import render_short

    long_label = "Unit 4 — " + "Heel Lange Straatnaam " * 10 + "\nBunnik"
    text = render_short(
        kind_alarm(AlarmKind.LONG_LIE, Severity.CRITICAL),
        lang="nl",
        dwelling_label=long_label,
        round_=12,
        alarm_centre=True,
    )
    assert len(text) == 160 and "\n" not in text  # the label cut, the advice whole
    assert text.startswith("HERHALING 12: ALARM: langdurig liggen na een val in Unit 4 — ")
    assert text.endswith(
        "… (urgentie: kritiek). Ga direct kijken of bel 112 bij levensgevaar. "
        "Alarmcentrale ingeschakeld."
    )
    # A record that cannot be formatted still gets a line with its dwelling.
    broken = kind_alarm(AlarmKind.FALL, severity="unheard of")  # type: ignore[arg-type]
    assert render_short(broken, lang="nl", dwelling_label="Unit 4") == "ALARM — Unit 4"


def test_a_folded_message_says_what_to_do_when_any_alarm_is_critical() -> None:
    from alerts.digest import render_folded_mail, render_folded_short

    storm = [kind_alarm(AlarmKind.FALL), kind_alarm(AlarmKind.PERSONAL, Severity.CRITICAL)]
    assert render_folded_short(storm, lang="nl", dwelling_label="Unit 4") == (
        "ALARM: val in Unit 4 (urgentie: hoog), en 1 andere melding. "
        "Ga direct kijken of bel 112 bij levensgevaar."
    )
    three = [*storm, kind_alarm(AlarmKind.INACTIVITY)]
    assert render_folded_short(three, lang="en", dwelling_label="Unit 4") == (
        "ALARM: fall in Unit 4 (urgency: high), and 2 other alerts. "
        "Go and check at once, or call 112 if a life is in danger."
    )
    _, body = render_folded_mail(
        storm,
        lang="nl",
        contact_name="Anna",
        dwelling_label="Unit 4",
        ack_url="http://hub/ack/tok",
        ack_expires_at=RAISED + 86400,
        tz="Europe/Amsterdam",
        now=RAISED,
        alarm_centre=True,
    )
    lines = body.splitlines()
    advice = lines.index(
        "Ga direct kijken of bel 112 bij levensgevaar. De alarmcentrale is ook ingeschakeld."
    )
    assert lines.index("Verder gemeld:") > advice


@pytest.mark.parametrize(
    ("name", "role", "lang", "label"),
    [
        ("Anna de Vries", "family", "nl", "Anna de Vries (mantelzorger)"),
        ("Anna de Vries", "family", "en", "Anna de Vries (family carer)"),
        ("Jan Smit", "neighbour", "nl", "Jan Smit (buur)"),
        (
            "Mantelzorger van Unit 2 (Pieter Bakker)",
            "family",
            "nl",
            "Mantelzorger van Unit 2 (Pieter Bakker)",
        ),  # never "(…) (mantelzorger)"
        ("Piet  Jansen", "someone", "nl", "Piet Jansen"),
    ],
)
def test_a_person_is_named_with_their_role_once(
    name: str, role: str, lang: str, label: str
) -> None:
    from alerts.present import person_label

    assert person_label(name, role, lang) == label
