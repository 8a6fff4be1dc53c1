"""The mail a mantelzorger reads: their language, local times, no raw internals."""

from __future__ import annotations

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
            "silent_s": 340.0,
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
    assert "5 min 40 s" in body  # silent_s as a duration
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
