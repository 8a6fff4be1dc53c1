"""The all-clear: a contact who was told of an alarm is told when it is over, over real
SMTP (aiosmtpd) and the real outbox; the contact who ended it, and alarms that ended
long ago, get none; an all-clear never holds a new alarm back."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import ALL_CLEAR_ROUND, AlarmKind, Contact, Outcome, Response, Severity
from alerts.store import OutboxStatus
from sensors.contract import new_id
from tests.integration.alarm_fakes import FakeClock, mail_subject, mail_text
from tests.integration.test_alerts_mail import DW, directory, raise_msg, running
from tests.servers import SmtpSink, wait_until

pytestmark = pytest.mark.integration

BROKEN = "foo://127.0.0.1/x"  # no such service: fails for good, at once


async def test_an_alarm_an_operator_closes_is_over_for_the_contact_who_was_told(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        clock.advance(5)
        await svc.claim(msg.alarm_id, "jan", clock())
        await svc.close_alarm(msg.alarm_id, "jan", Outcome.FALSE_ALARM, "", clock())
        await wait_until(lambda: len(smtp.messages) == 2)
        mail = smtp.messages[1]
        assert mail["To"] == "anna@example.org"
        assert mail_subject(mail) == "Voorbij: persoonlijk alarm — Unit 3, Tuinstraat"
        text = mail_text(mail)
        assert "Beste Anna de Vries," in text
        assert "afgehandeld door de meldcentrale" in text
        assert "Afloop: loos alarm." in text
        assert "jan" not in text  # an operator is not named to the family
        assert "http" not in text
        # On the timeline, once; and never again however long the hub runs.
        await wait_until(
            lambda: [w for _, w, _, _ in svc.history(msg.alarm_id)].count("all_clear") == 1
        )
        clock.advance(7200)
        await svc.tick()
        assert len(smtp.messages) == 2


async def test_the_contact_who_closes_it_gets_none_the_other_one_told_is_named_it(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(
        tmp_path / "hub.sqlite", smtp, clock, contacts=directory(neighbour=True)
    ) as svc:
        msg = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        clock.advance(31)  # Anna did not answer: Piet is asked
        await svc.tick()
        await wait_until(lambda: len(smtp.messages) == 2)
        await svc.respond_as_contact(
            msg.alarm_id, "c-anna", Response.CLOSED, "", Outcome.FAMILY_HELP
        )
        await wait_until(lambda: len(smtp.messages) == 3)
        mail = smtp.messages[2]
        assert mail["To"] == "piet@example.org"
        text = mail_text(mail)
        assert "afgehandeld door Anna de Vries" in text
        assert "Afloop: geholpen door familie of buren." in text

        def all_clears() -> dict[str, OutboxStatus]:
            rows = svc.store.outbox(msg.alarm_id)
            return {r.contact_id: r.status for r in rows if r.round == ALL_CLEAR_ROUND}

        # The mail is at the server before the hub records it sent: wait for the record.
        await wait_until(lambda: all_clears().get("c-piet") is OutboxStatus.SENT)
        assert all_clears() == {
            "c-piet": OutboxStatus.SENT,
            "c-anna": OutboxStatus.SKIPPED,  # she closed it: she knows
        }
        clock.advance(600)
        await svc.tick()
        assert len(smtp.messages) == 3


async def test_an_alarm_over_longer_ago_than_the_window_gets_no_all_clear(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    """A hub that comes back after an outage (or is upgraded) does not send all-clears
    for alarms that ended before the window: yesterday's "it is over" helps nobody."""
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock, all_clear_within_s=600.0) as svc:
        msg = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        ended = clock() + 60
        clock.advance(60 + 601)
        cancel = msg.model_copy(update={"id": new_id(), "action": "cancel"})
        await svc.on_edge_alarm(cancel, received_at=ended)
        await svc.tick()
        assert svc.get(msg.alarm_id).resolved_at == ended  # type: ignore[union-attr]
        assert [r for r in svc.store.outbox(msg.alarm_id) if r.round == ALL_CLEAR_ROUND] == []
        assert len(smtp.messages) == 1


async def test_an_all_clear_holds_no_new_alarm_back(tmp_path: Path, smtp: SmtpSink) -> None:
    """A mail to a contact holds that dwelling's next alarms to them for the fold window
    (here 30 s: capped at the step wait) so they go out as one; an all-clear tells of no
    alarm and holds nothing back."""
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        first = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(first, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        clock.advance(20)
        cancel = first.model_copy(update={"id": new_id(), "action": "cancel"})
        await svc.on_edge_alarm(cancel, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 2)
        assert mail_subject(smtp.messages[1]).startswith("Voorbij: ")
        clock.advance(15)  # 35 s after the alarm mail, 15 s after the all-clear
        second = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(second, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 3)  # the clock stands still: at once
        assert mail_subject(smtp.messages[2]).startswith("ALARM: ")


async def test_the_all_clear_goes_by_the_channel_that_reached_the_contact(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    """Anna's first channel fails for good, so the alarm reached her by her second: the
    all-clear goes there at once, not through the channel that failed first."""
    anna = Contact(
        "c-anna", DW, "Anna de Vries", None, "nl", channels=(BROKEN, "mailto:anna@example.org")
    )
    contacts = directory()
    contacts.contacts[DW] = [anna]
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock, contacts=contacts) as svc:
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        assert "failed" in [w for _, w, _, _ in svc.history(msg.alarm_id)]  # the first one
        clock.advance(5)
        await svc.claim(msg.alarm_id, "jan", clock())
        await svc.close_alarm(msg.alarm_id, "jan", Outcome.FALSE_ALARM, "", clock())
        await wait_until(lambda: len(smtp.messages) == 2)
        assert mail_subject(smtp.messages[1]).startswith("Voorbij: ")
        await wait_until(lambda: "all_clear" in [w for _, w, _, _ in svc.history(msg.alarm_id)])
        clears = [r for r in svc.store.outbox(msg.alarm_id) if r.round == ALL_CLEAR_ROUND]
        assert [(r.channel, r.status) for r in clears] == [("email#1", OutboxStatus.SENT)]
        assert "all_clear_failed" not in [w for _, w, _, _ in svc.history(msg.alarm_id)]


async def test_an_all_clear_that_started_on_a_later_channel_goes_round_to_the_first(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    """The alarm reached Anna by her second address; by the time it is over that one
    fails and her first works again: the all-clear goes round to the first."""
    bad, good = "mailto:Anna de Vries <anna@example.org>", "mailto:anna@example.org"
    contacts = directory()
    contacts.contacts[DW] = [Contact("c-anna", DW, "Anna de Vries", None, channels=(bad, good))]
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock, contacts=contacts) as svc:
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        contacts.contacts[DW] = [Contact("c-anna", DW, "Anna de Vries", None, channels=(good, bad))]
        clock.advance(5)
        await svc.claim(msg.alarm_id, "jan", clock())
        await svc.close_alarm(msg.alarm_id, "jan", Outcome.FALSE_ALARM, "", clock())
        await wait_until(lambda: len(smtp.messages) == 2)

        def clears() -> list[tuple[str, OutboxStatus]]:
            rows = svc.store.outbox(msg.alarm_id)
            return [(r.channel, r.status) for r in rows if r.round == ALL_CLEAR_ROUND]

        await wait_until(lambda: ("email#0", OutboxStatus.SENT) in clears())
        assert clears() == [("email#1", OutboxStatus.FAILED), ("email#0", OutboxStatus.SENT)]


def test_an_all_clear_starts_where_the_alarm_got_through_if_that_channel_is_still_there() -> None:
    from alerts.channels.targets import kind
    from alerts.service import _first_channel

    targets = (BROKEN, "mailto:anna@example.org")
    assert _first_channel(targets, "email#1") == "email#1"
    assert _first_channel(targets[1:], "email#1") == "email#0"  # her channels changed since
    assert _first_channel(targets, "gsm#0") == f"{kind(BROKEN)}#0"  # the dwelling's own SMS
    assert _first_channel((), "email#0") == "none#0"
