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
