"""The alarm service: takes alarms in, keeps their lifecycle durable, delivers notifications.

The hub calls the async methods from its ingest and presence code and the console;
`run()` is the delivery and re-notification loop. All state lives in the operational
store (SQLite or PostgreSQL, see `alerts.store`), so a restart (even SIGKILL) loses no
open alarm, and a notification is sent at most once, also with several hub workers on one
database (see docs/alerts.md, "Durability").
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from alerts import fold, handling, lifecycle, routing
from alerts.all_clear import render_all_clear
from alerts.centre import TROUBLE_ROUND, CentreLane, Link
from alerts.channels import Notification
from alerts.channels.targets import kind as target_kind
from alerts.channels.targets import redact
from alerts.dc09.link import LinkState
from alerts.digest import render_folded_mail, render_folded_short
from alerts.errors import ChannelError, HandlingError, TokenRevokedError, UnknownAlarmError
from alerts.model import (
    ALL_CLEAR_ROUND,
    CONTACT_ACTIONS,
    NOTE_MAX,
    OPEN_STATES,
    AlarmChange,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    Contact,
    HandlingAction,
    Outcome,
    Response,
    Severity,
    TimelineEntry,
)
from alerts.present import person_label, render_mail, render_short
from alerts.settings import AlertSettings
from alerts.store import AlarmStore, OutboxRow, OutboxStatus
from alerts.texts import language
from alerts.ticking import tick_until
from alerts.tokens import AckClaim, AckTokens
from sensors.commands import is_test_alarm
from sensors.contract import (
    FALLBACK_DETAIL,
    SMS_AT_DETAIL,
    SMS_FAILED_DETAIL,
    SMS_TO_DETAIL,
    AlarmMessage,
    new_id,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "AlarmService",
    "AlarmStats",
    "AlertSettings",
    "ContactDirectory",
    "LatencyStats",
    "TimelineEntry",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
# The "dwelling" of the hub's own technical alarms (the alarm-centre link).
HUB_DWELLING = "hub"
Listener = Callable[[AlarmChange], None]
# The note a test alarm is resolved with (the timeline's language is Dutch).
TEST_ALARM_NOTE = "testalarm aangekomen; niet doorgestuurd"
# The dwelling's GSM fallback (edge.fallback): the timeline entry of its report; how long
# the contacts' steps of an alarm that came in late wait for that report; the time a
# receipt may take back to the edge (an alarm in within fallback_s less this: not late).
TEXTED_BY_DWELLING = "texted_by_dwelling"
DWELLING_SMS_WAIT_S = 30.0
EDGE_RECEIPT_MARGIN_S = 5.0


class DwellingLike(Protocol):
    @property
    def label(self) -> str: ...


class ContactDirectory(Protocol):
    """Who to notify for a dwelling, and what to call the dwelling in a mail.

    The hub's `Registry` satisfies it.
    """

    def contacts_for(self, dwelling_id: str) -> list[Contact]: ...
    def dwelling(self, dwelling_id: str) -> DwellingLike | None: ...


class RoutingDirectory(ContactDirectory, Protocol):
    """The directory with each dwelling's routing policy and alarm-centre identity."""

    def policy(self, dwelling_id: str) -> routing.Policy: ...
    def alarm_centre_account(self, dwelling_id: str) -> str | None: ...
    def zone(self, dwelling_id: str, sensor_id: str) -> int: ...


class Sender(Protocol):
    """Sends one notification to one of a contact's targets (`ChannelRouter`)."""

    async def send(self, target: str, notification: Notification) -> None: ...


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Seconds between two lifecycle steps, over the alarms that took both."""

    count: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    max_s: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> LatencyStats:
        data = sorted(values)
        if not data:
            return cls()
        p90 = data[min(len(data) - 1, round(0.9 * (len(data) - 1)))]
        return cls(len(data), statistics.median(data), p90, data[-1])


@dataclass(frozen=True, slots=True)
class AlarmStats:
    total: int
    open: int
    by_state: dict[str, int]
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    source_to_received: LatencyStats  # edge clock to hub clock: transport delay
    raised_to_notified: LatencyStats  # end to end: made at the edge -> first notification out
    raised_to_acknowledged: LatencyStats  # end to end: made at the edge -> somebody took it on
    received_to_notified: LatencyStats  # hub got it -> first notification handed to SMTP
    received_to_acknowledged: LatencyStats  # hub got it -> somebody took it on
    notified_to_acknowledged: LatencyStats
    notifications: dict[str, int] = field(default_factory=dict)  # outbox rows per status

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def responder_label(contact: Contact) -> str:
    """How a contact who took an alarm on is named on its timeline and pages (in Dutch,
    the audit trail's language): "Anna de Vries (mantelzorger)"."""
    return person_label(contact.name, contact.role, "nl")


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _edge_record(msg: AlarmMessage, received_at: float) -> AlarmRecord:
    """The alarm as the edge raised it, first seen by the hub at `received_at`."""
    return AlarmRecord(
        id=msg.alarm_id,
        dwelling=msg.dwelling,
        kind=msg.kind,
        severity=msg.severity,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=msg.ts,
        received_at=received_at,
        sensor=msg.sensor,
        detail=dict(msg.detail),
    )


class AlarmService:
    def __init__(
        self,
        store: AlarmStore | Engine,
        sender: Sender,
        contacts: RoutingDirectory,
        settings: AlertSettings,
        clock: Callable[[], float] = time.time,
        *,
        worker_id: str | None = None,
        centre: Link | None = None,
    ) -> None:
        # The engine (and closing it) stays the caller's: build_hub opens one for all the
        # operational store's users.
        self._store = store if isinstance(store, AlarmStore) else AlarmStore(store)
        self._sender = sender
        self._contacts = contacts
        self.settings = settings
        self._clock = clock
        self._tz = ZoneInfo(settings.timezone)
        self._tokens = AckTokens(settings.secret_key, settings.ack_link_ttl_s)
        self._worker = worker_id or _default_worker_id()
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        # Alarms already reported as undeliverable (no contact can be reached): ERROR once.
        self._undeliverable: set[str] = set()
        self._centre = (
            None
            if centre is None
            else CentreLane(
                self._store, centre, contacts, clock, self._worker, self._emit, self._io
            )
        )
        if centre is not None:
            centre.add_listener(self._on_link_state)
        self._link_tasks: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> AlarmStore:
        return self._store

    def close(self) -> None:
        """Nothing of its own to release: the store's engine is its opener's."""

    # -- listeners ----------------------------------------------------------------------

    def add_listener(self, cb: Listener) -> None:
        self._listeners.append(cb)

    def remove_listener(self, cb: Listener) -> None:
        if cb in self._listeners:
            self._listeners.remove(cb)

    def _emit(self, record: AlarmRecord, what: str) -> None:
        change = AlarmChange(record, what)
        for cb in list(self._listeners):
            try:
                cb(change)
            except Exception:
                # A broken listener (a console tab) must never stop alarm handling.
                log.warning("alarm listener %r failed", cb, exc_info=True)

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The database waits on locks held by other hub workers: keep that off the event loop.
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- alarms in ----------------------------------------------------------------------

    async def on_edge_alarm(self, msg: AlarmMessage, received_at: float) -> None:
        """Raise or cancel an edge alarm. Idempotent on (dwelling, alarm_id)."""
        existing = await self._io(self._store.get, msg.alarm_id)
        if existing is not None and existing.dwelling != msg.dwelling:
            log.warning(
                "alarm id %s from dwelling %s is already used by dwelling %s; ignored",
                msg.alarm_id,
                msg.dwelling,
                existing.dwelling,
            )
            return
        if msg.action == "raise":
            texted = SMS_AT_DETAIL in msg.detail  # the dwelling's GSM fallback report
            if existing is not None:
                if texted:
                    await self._texted_by_dwelling(existing, msg, received_at)
                    return
                log.debug(
                    "alarm %s already known (%s); redelivery ignored", msg.alarm_id, existing.state
                )
                return
            rec = _edge_record(msg, received_at)
            if await self._io(self._store.insert_alarm, rec):
                log.info(
                    "alarm %s raised: %s/%s in %s", rec.id, rec.kind, rec.severity, rec.dwelling
                )
                self._emit(rec, "raised")
                if is_test_alarm(rec.detail) is not None:
                    await self._end_test(rec, received_at)
                    return
                if texted:  # the original raise was lost: this report is all we have
                    await self._texted_by_dwelling(rec, msg, received_at)
                self._wake.set()
            return
        # cancel
        if existing is None:
            # The cancel overtook its raise (or the raise was lost). Store the alarm as
            # resolved, so a late raise is recognised as a redelivery and not re-opened.
            rec = replace(
                _edge_record(msg, received_at),
                state=AlarmState.RESOLVED,
                resolved_at=received_at,
                resolved_by="edge",
            )
            if await self._io(self._store.insert_alarm, rec, by="edge"):
                log.info("alarm %s cancelled at the edge before it was raised here", rec.id)
                self._emit(rec, "cancelled")
            return
        step = await self._io(
            self._store.update,
            msg.alarm_id,
            lambda r: lifecycle.cancel(r, received_at),
            at=received_at,
            by="edge",
        )
        if step.changed:
            log.info("alarm %s cancelled at the edge", msg.alarm_id)
            self._emit(step.record, step.what)

    async def _end_test(self, rec: AlarmRecord, now: float) -> None:
        """A test alarm has done its job by arriving: resolved at once, by the hub (its
        timeline shows it came; it never waits in the queue nor escalates)."""
        step = await self._io(
            self._store.update,
            rec.id,
            lambda r: lifecycle.resolve(r, "hub", TEST_ALARM_NOTE, now),
            at=now,
            by="hub",
        )
        if step.changed:
            log.info("test alarm %s from %s arrived: resolved", rec.id, rec.dwelling)
            self._emit(step.record, step.what)

    async def _texted_by_dwelling(
        self, rec: AlarmRecord, msg: AlarmMessage, received_at: float
    ) -> None:
        """The dwelling could not reach the hub in time and texted contacts itself (its GSM
        fallback, edge.fallback): their steps of the plan count as taken (an outbox row
        recorded as sent, nothing goes out) and the alarm as notified, so nobody gets a
        second message for the first step; escalation (the centre) goes on as planned."""
        reached = {c for c in str(msg.detail.get(SMS_TO_DETAIL, "")).split(",") if c}
        failed = msg.detail.get(SMS_FAILED_DETAIL, 0)
        for st in self._plan(rec):
            cid = st.target.contact_id
            if st.target.kind != "contact" or cid not in reached:
                continue
            added = await self._io(
                self._store.enqueue, rec.id, cid, "gsm#0", st.index, received_at, sent_already=True
            )
            if not added:
                continue  # an earlier report of the same alarm already said so
            step = await self._io(
                self._store.update,
                rec.id,
                lambda r: lifecycle.notified(r, received_at),
                at=received_at,
                by="edge",
                note="SMS from the dwelling (GSM fallback)",
                contact=cid,
            )
            if step.changed:
                self._emit(step.record, step.what)
        await self._io(
            self._store.log_event,
            rec.id,
            received_at,
            TEXTED_BY_DWELLING,
            "edge",
            f"{len(reached)} contacts texted by the dwelling, {failed} not reached",
        )
        log.info(
            "alarm %s in %s: the dwelling texted %d contacts itself (%s not reached)",
            rec.id,
            rec.dwelling,
            len(reached),
            failed,
        )
        self._wake.set()

    async def _awaiting_dwelling_sms(self, alarm: AlarmRecord, now: float) -> bool:
        """Whether the contacts' steps wait for the dwelling's own SMS report: the alarm
        came in after the time its edge said it would text the contacts itself
        (`fallback_s`, less a margin for the receipt's way back), and no report has come
        yet; at most DWELLING_SMS_WAIT_S after the alarm came in."""
        after = alarm.detail.get(FALLBACK_DETAIL)
        if alarm.source != "edge" or isinstance(after, bool) or not isinstance(after, int | float):
            return False
        margin = min(EDGE_RECEIPT_MARGIN_S, after / 2)  # a short fallback_s: half of it
        if alarm.received_at < alarm.raised_at + after - margin:
            return False  # in time: the edge had its receipt before it would have texted
        if now >= alarm.received_at + DWELLING_SMS_WAIT_S:
            return False
        log_entries = await self._io(self._store.log, alarm.id)
        return not any(what == TEXTED_BY_DWELLING for _, what, _, _ in log_entries)

    async def raise_technical(
        self,
        dwelling: str,
        key: str,
        severity: Severity,
        detail: dict[str, float | int | bool | str | None],
        now: float,
    ) -> None:
        """Raise a hub-side technical alarm (e.g. key="offline"); one open per (dwelling, key)."""
        if await self._io(self._store.open_technical, dwelling, key) is not None:
            return
        rec = AlarmRecord(
            id=new_id(),
            dwelling=dwelling,
            kind=AlarmKind.TECHNICAL,
            severity=severity,
            state=AlarmState.RAISED,
            source="hub",
            raised_at=now,
            received_at=now,
            detail={**detail, "key": key},
        )
        if await self._io(self._store.insert_alarm, rec, tech_key=key):
            log.info("technical alarm %s raised: %s in %s", rec.id, key, dwelling)
            self._emit(rec, "raised")
            self._wake.set()

    async def clear_technical(self, dwelling: str, key: str, now: float) -> None:
        rec = await self._io(self._store.open_technical, dwelling, key)
        if rec is None:
            return
        step = await self._io(
            self._store.update,
            rec.id,
            lambda r: lifecycle.resolve(r, "hub", "", now),
            at=now,
            by="hub",
        )
        if step.changed:
            log.info("technical alarm %s (%s in %s) cleared", rec.id, key, dwelling)
            self._emit(step.record, step.what)

    async def open_count(self, dwelling: str) -> int:
        """Unacknowledged alarms the dwelling's edge raised (an indexed COUNT): for the
        budget's cap per dwelling (`hub.budget.DwellingBudgets.admit_alarm`)."""
        return await self._io(self._store.open_count, dwelling)

    # -- people act ---------------------------------------------------------------------

    async def acknowledge(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord:
        """Operator `by` takes the alarm on; stops re-notification. Idempotent. Under the
        claim rule (`lifecycle.as_operator`): `ClaimedError` while another operator holds
        it; an unclaimed alarm becomes `by`'s."""
        return await self._act(alarm_id, lifecycle.acknowledge, "acknowledge", by, note, now)

    async def resolve(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord:
        """Operator `by` resolves the alarm; the claim rule as for `acknowledge`."""
        return await self._act(alarm_id, lifecycle.resolve, "resolve", by, note, now)

    async def _act(
        self,
        alarm_id: str,
        transition: Callable[[AlarmRecord, str, str, float], lifecycle.Step],
        verb: str,
        by: str,
        note: str,
        now: float,
    ) -> AlarmRecord:
        step = await self._operator_step(
            alarm_id, by, verb, now, lambda r: transition(r, by, note, now), note=note
        )
        return step.record

    async def _operator_step(
        self,
        alarm_id: str,
        by: str,
        verb: str,
        now: float,
        step: Callable[[AlarmRecord], lifecycle.Step],
        *,
        note: str = "",
        contact: str | None = None,
    ) -> lifecycle.Step:
        """One operator step, atomically under the claim rule, logged and emitted."""
        done = await self._io(
            self._store.update,
            alarm_id,
            lambda r: lifecycle.as_operator(r, by, verb, now, step),
            at=now,
            by=by,
            note=note,
            contact=contact,
        )
        if done.changed:
            log.info("alarm %s: %s by %s", alarm_id, done.what, by)
            self._emit(done.record, done.what)
        return done

    # -- claiming and handling (docs/alerts.md, "Claiming and handling") -----------------

    async def claim(
        self, alarm_id: str, by: str, now: float, *, take_over: bool = False
    ) -> AlarmRecord:
        """Operator `by` claims the alarm. A no-op when they hold it; `ClaimedError` (who
        holds it, since when) when another operator does, unless `take_over`. Exclusive
        across hub processes: two operators claiming at once, exactly one wins."""
        step = await self._io(
            self._store.update,
            alarm_id,
            lambda r: lifecycle.claim(r, by, now, take_over=take_over),
            at=now,
            by=by,
        )
        if step.changed:
            log.info("alarm %s %s by %s", alarm_id, step.what, by)
            self._emit(step.record, step.what)
        return step.record

    async def release(self, alarm_id: str, by: str, now: float) -> AlarmRecord:
        """The holder lets go of the claim; `ClaimedError` if another operator holds it."""
        step = await self._io(
            self._store.update, alarm_id, lambda r: lifecycle.release(r, by), at=now, by=by
        )
        if step.changed:
            log.info("alarm %s released by %s", alarm_id, by)
            self._emit(step.record, step.what)
        return step.record

    async def add_note(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord:
        """A note by operator `by` on the alarm's timeline (author and time), under the
        claim rule. `HandlingError` for an empty note or one over NOTE_MAX characters."""
        text = note.strip()
        if not text:
            raise HandlingError("a note needs text")
        _check_note(text)
        step = await self._operator_step(
            alarm_id, by, "add a note", now, lambda r: lifecycle.add_note(r, text), note=text
        )
        return step.record

    async def record_action(
        self,
        alarm_id: str,
        by: str,
        action: HandlingAction | str,
        now: float,
        *,
        contact_id: str | None = None,
        note: str = "",
    ) -> AlarmRecord:
        """What operator `by` did (`HandlingAction`), on the alarm's timeline with author,
        time, the contact (for the contact actions: required, and a contact of the alarm's
        own dwelling) and an optional note; under the claim rule. `HandlingError` for an
        unknown action, a missing or foreign contact, or a note over NOTE_MAX."""
        try:
            done = HandlingAction(action)
        except ValueError as exc:
            raise HandlingError(f"unknown action {action!r}") from exc
        _check_note(note)
        if done in CONTACT_ACTIONS:
            if not contact_id:
                raise HandlingError(f"{done.value} needs the contact's id")
            alarm = await self._io(self._store.get, alarm_id)
            if alarm is None:
                raise UnknownAlarmError(alarm_id)
            if self.contact(alarm.dwelling, contact_id) is None:
                raise HandlingError(f"{contact_id!r} is not a contact of this alarm's dwelling")
        elif contact_id:
            raise HandlingError(f"{done.value} is not about a contact")
        step = await self._operator_step(
            alarm_id,
            by,
            "record an action",
            now,
            lambda r: lifecycle.handling_action(r, done),
            note=note.strip(),
            contact=contact_id,
        )
        return step.record

    def call_list(self, dwelling: str, kind: AlarmKind | None = None) -> list[handling.Call]:
        """Whom the operator calls for an alarm of `dwelling`, in the routing order, with
        phone numbers (`alerts.handling.call_list`)."""
        return handling.call_list(
            self._contacts.policy(dwelling), self._contacts.contacts_for(dwelling), kind=kind
        )

    def ack_url(
        self,
        alarm_id: str,
        contact_id: str,
        now: float,
        *,
        link_key: str | None = None,
        batch: int | None = None,
    ) -> str:
        """The acknowledgement link for one contact; it binds the contact's link key (looked
        up when not given), so it stops working when the contact is removed or re-added.
        `batch`: a folded mail's link, which acknowledges every alarm that mail carried."""
        if link_key is None:
            alarm = self.get(alarm_id)
            contact = self.contact(alarm.dwelling, contact_id) if alarm is not None else None
            link_key = contact.link_key if contact is not None else ""
        token = self._tokens.issue(alarm_id, contact_id, now, link_key, batch=batch)
        return f"{self.settings.public_url.rstrip('/')}/ack/{token}"

    def verify_ack_token(self, token: str, alarm_id: str | None = None) -> AckClaim:
        """The claim of an acknowledgement link; raises a `TokenError` subclass if refused.

        Beyond signature and expiry: the contact must still be a contact of the alarm's
        dwelling with the link key the link was made with (TokenRevokedError otherwise).
        For an alarm the hub does not know the claim is returned as it is: there is
        nothing to acknowledge, and the caller says so.
        """
        return self._verified(token, alarm_id)[0]

    def _verified(
        self, token: str, alarm_id: str | None = None
    ) -> tuple[AckClaim, AlarmRecord | None, Contact | None]:
        """The claim, its alarm and its contact (both as they are now); see
        `verify_ack_token` for what is refused."""
        claim = self._tokens.verify(token, self._clock(), alarm_id)
        alarm = self.get(claim.alarm_id)
        if alarm is None:
            return claim, None, None
        contact = self.contact(alarm.dwelling, claim.contact_id)
        if contact is None or contact.link_key != claim.link_key:
            raise TokenRevokedError(
                f"link for alarm {claim.alarm_id!r}: contact {claim.contact_id!r} is no longer"
                f" a contact of {alarm.dwelling} (removed or re-added)"
            )
        return claim, alarm, contact

    def contact(self, dwelling: str, contact_id: str) -> Contact | None:
        """The dwelling's contact with this id, as the registry has it now (None if gone)."""
        return next((c for c in self._contacts.contacts_for(dwelling) if c.id == contact_id), None)

    def dwelling_label(self, dwelling: str) -> str:
        d = self._contacts.dwelling(dwelling)
        return d.label if d is not None else dwelling

    async def acknowledge_link(self, token: str, note: str) -> AlarmRecord:
        """ "Ik ga erheen" through a mailed link: `respond_link` with ON_MY_WAY."""
        return await self.respond_link(token, Response.ON_MY_WAY, note)

    async def respond_link(
        self, token: str, response: Response, note: str, outcome: Outcome | None = None
    ) -> AlarmRecord:
        """A mantelzorger acts through their link: "ik ga erheen" (ON_MY_WAY), "ik ben er"
        (ARRIVED), or closes with an outcome (CLOSED). The token names the alarm and the
        contact. A folded mail's link acts on every alarm that mail carried to the contact
        (those not over yet). Returns the link's own alarm as it is afterwards.

        Refused (a `TokenError`) when the link is not valid or no longer: see
        `verify_ack_token`; `InvalidTransitionError` when the alarm is over.
        """
        claim, alarm, contact = self._verified(token)
        if alarm is None or contact is None:  # a verified link of a known alarm has both
            raise UnknownAlarmError(claim.alarm_id)
        return await self._respond(claim.alarm_id, contact, response, note, outcome, claim.batch)

    async def respond_as_contact(
        self,
        alarm_id: str,
        contact_id: str,
        response: Response,
        note: str,
        outcome: Outcome | None = None,
    ) -> AlarmRecord:
        """`respond_link` for a contact known otherwise (the family page's session): the
        same steps, on this one alarm. `UnknownAlarmError` when there is no such alarm or
        the contact is not (or no longer) one of its dwelling's: one dwelling's contact
        never acts on another's alarm."""
        alarm = await self._io(self._store.get, alarm_id)
        contact = self.contact(alarm.dwelling, contact_id) if alarm is not None else None
        if alarm is None or contact is None:
            raise UnknownAlarmError(alarm_id)
        return await self._respond(alarm_id, contact, response, note, outcome)

    async def _respond(
        self,
        alarm_id: str,
        contact: Contact,
        response: Response,
        note: str,
        outcome: Outcome | None,
        batch: int | None = None,
    ) -> AlarmRecord:
        """The mantelzorger's step on the alarm (and, for a folded mail's link, `batch`:
        on every alarm that mail carried to them)."""
        if response is Response.CLOSED and outcome is None:
            raise ValueError("closing needs an outcome")
        by = responder_label(contact)
        now = self._clock()

        def act(r: AlarmRecord) -> lifecycle.Step:
            if response is Response.ON_MY_WAY:
                return lifecycle.take_on(r, by, contact.id, note, now)
            if response is Response.ARRIVED:
                return lifecycle.arrive(r, by, contact.id, note, now)
            assert outcome is not None
            return lifecycle.close(r, by, outcome, note, now, operator=False, contact_id=contact.id)

        def act_if_open(r: AlarmRecord) -> lifecycle.Step:
            if r.state is AlarmState.RESOLVED:
                return lifecycle.Step(r, False, response.value)
            return act(r)

        if batch is not None:
            carried = await self._io(self._store.batch_alarms, batch, contact.id)
            if alarm_id in carried:
                others = [a for a in carried if a != alarm_id]
                steps = await self._io(
                    self._store.update_many, others, act_if_open, at=now, by=by, note=note
                )
                changed = [st for st in steps if st.changed]
                if changed:
                    log.info(
                        "%d alarms of a folded mail: %s by contact %s with alarm %s",
                        len(changed),
                        response.value,
                        contact.id,
                        alarm_id,
                    )
                for st in changed:
                    self._emit(st.record, st.what)
        step = await self._io(self._store.update, alarm_id, act, at=now, by=by, note=note)
        if step.changed:
            log.info("alarm %s: %s by contact %s", alarm_id, step.what, contact.id)
            self._emit(step.record, step.what)
            self._wake.set()
        return step.record

    async def close_alarm(
        self, alarm_id: str, by: str, outcome: Outcome, note: str, now: float
    ) -> AlarmRecord:
        """An operator closes the alarm with an outcome (the alarm centre's close); the
        claim rule as for `acknowledge`."""
        step = await self._operator_step(
            alarm_id,
            by,
            "close",
            now,
            lambda r: lifecycle.close(r, by, outcome, note, now, operator=True),
            note=f"{outcome.value}: {note}" if note else outcome.value,
        )
        if step.changed:
            self._wake.set()  # the alarm centre's restore follows
        return step.record

    async def send_message(self, note: Notification) -> str | None:
        """Send a message that is no alarm (the family's daily summary) to its contact's
        targets, in order, each tried once: the first that takes it wins (a timeout ends
        it: the message may be out). Returns where it went (redacted), or None. No outbox
        row: the caller makes it at most once (hub.family.summary claims each summary
        before sending it)."""
        for target in note.contact.targets:
            try:
                await asyncio.wait_for(
                    self._sender.send(target, note), timeout=self.settings.send_timeout_s
                )
            except ChannelError as exc:
                log.warning(
                    "message %s to contact %s via %s failed: %s",
                    note.alarm_id,
                    note.contact.id,
                    redact(target),
                    exc,
                )
                continue
            except TimeoutError:
                # It may still go out: not tried elsewhere (the outbox's "unknown").
                log.warning(
                    "message %s to contact %s via %s timed out; not sent again",
                    note.alarm_id,
                    note.contact.id,
                    redact(target),
                )
                return None
            return redact(target)
        return None

    # -- queries (short indexed reads, called on the event loop) ------------------------------

    def get(self, alarm_id: str) -> AlarmRecord | None:
        return self._store.get(alarm_id)

    def open_alarms(self) -> list[AlarmRecord]:
        return self._store.open_alarms()

    def recent(self, limit: int = 50) -> list[AlarmRecord]:
        return self._store.recent(limit)

    def active_between(self, since: float, until: float) -> list[AlarmRecord]:
        """Alarms received in [since, until) or open at `since` (the monthly report)."""
        return self._store.active_between(since, until)

    def dwelling_alarms(self, dwelling: str, since: float, limit: int = 200) -> list[AlarmRecord]:
        """The dwelling's alarms received since `since`, newest first (at most `limit`),
        without those for operators only (e.g. "refused"): the family page's history."""
        return [
            a
            for a in self._store.dwelling_since(dwelling, since, limit)
            if not self._operator_only(a)
        ]

    def for_family(self, alarm: AlarmRecord) -> bool:
        """Whether the dwelling's contacts may see this alarm (not an operators' one)."""
        return not self._operator_only(alarm)

    def history(self, alarm_id: str) -> list[tuple[float, str, str | None, str]]:
        return self._store.log(alarm_id)

    def timeline(self, alarm_id: str) -> list[TimelineEntry]:
        """Everything that happened to the alarm, in order: raised at the source, received
        by the hub, each notification and DC-09 event sent / acknowledged / failed, taken
        on by whom, arrived, closed with what outcome (docs/alerts.md, "Evidence")."""
        return self._store.timeline(alarm_id)

    def stats(self) -> AlarmStats:
        alarms = self._store.all_since(0.0)
        by_state = {s.value: 0 for s in AlarmState}
        by_kind: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        for a in alarms:
            by_state[a.state.value] += 1
            by_kind[a.kind.value] = by_kind.get(a.kind.value, 0) + 1
            by_severity[a.severity.value] = by_severity.get(a.severity.value, 0) + 1
        return AlarmStats(
            total=len(alarms),
            open=sum(1 for a in alarms if a.state in OPEN_STATES),
            by_state=by_state,
            by_kind=by_kind,
            by_severity=by_severity,
            source_to_received=LatencyStats.of(
                max(0.0, a.received_at - a.raised_at) for a in alarms
            ),
            raised_to_notified=LatencyStats.of(
                max(0.0, a.notified_at - a.raised_at) for a in alarms if a.notified_at is not None
            ),
            raised_to_acknowledged=LatencyStats.of(
                max(0.0, a.acknowledged_at - a.raised_at)
                for a in alarms
                if a.acknowledged_at is not None
            ),
            received_to_notified=LatencyStats.of(
                a.notified_at - a.received_at for a in alarms if a.notified_at is not None
            ),
            received_to_acknowledged=LatencyStats.of(
                a.acknowledged_at - a.received_at for a in alarms if a.acknowledged_at is not None
            ),
            notified_to_acknowledged=LatencyStats.of(
                a.acknowledged_at - a.notified_at
                for a in alarms
                if a.acknowledged_at is not None and a.notified_at is not None
            ),
            notifications=self._store.outbox_counts(),
        )

    # -- delivery loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver queued notifications and take due escalation steps until `stop` is set;
        with an alarm-centre link, run its lane and its link tests beside."""
        log.info("alarm delivery loop started (worker %s)", self._worker)
        lanes: list[asyncio.Task[None]] = []
        if self._centre is not None:
            lanes.append(asyncio.create_task(self._centre.run(stop, self.settings.poll_interval_s)))
            lanes.append(asyncio.create_task(self._centre.link.run_link_tests(stop)))
        try:
            await tick_until(
                stop,
                self._wake,
                self.tick,
                self.settings.poll_interval_s,
                what="alarm delivery",
                log=log,
            )
        finally:
            if not stop.is_set():  # cancelled: the lanes do not see `stop`
                for task in lanes:
                    task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
        log.info("alarm delivery loop stopped")

    async def tick(self) -> None:
        """One pass: expire dead claims, take due escalation steps, send due mail."""
        now = self._clock()
        for row in await self._io(
            self._store.expire_leases, now - self.settings.sending_lease_s, now
        ):
            log.warning(
                "notification %d (alarm %s, contact %s, step %d) was left 'sending' by %s; "
                "marked unknown and not resent",
                row.id,
                row.alarm_id,
                row.contact_id,
                row.round,
                row.claimed_by,
            )
            await self._io(
                self._store.log_event,
                row.alarm_id,
                now,
                _delivery_event(row, "unknown"),
                f"{row.channel}:{row.contact_id}",
                "sender stopped mid-send; not resent",
            )
        await self._schedule(now)
        if self._centre is not None:
            await self._centre.queue_restores(now)
        await self._queue_all_clears(now)
        s = self.settings
        while True:
            claimed: OutboxRow | None = await asyncio.to_thread(
                self._store.claim,
                self._worker,
                self._clock(),
                fold_window_s=s.effective_fold_window_s,
                thread_gap_s=s.thread_gap_s,
            )
            if claimed is None:
                return
            await self._deliver_claim(claimed)

    # -- escalation ---------------------------------------------------------------------

    def _plan(self, alarm: AlarmRecord) -> tuple[routing.DueStep, ...]:
        if self._operator_only(alarm):
            return ()  # the operators' queue (the console) only
        return routing.schedule(
            self._contacts.policy(alarm.dwelling),
            kind=alarm.kind,
            severity=alarm.severity,
            received_at=alarm.received_at,
            tz=self._tz,
        )

    async def _schedule(self, now: float) -> None:
        """Take every escalation step that fell due (once: the outbox row, or the alarm's
        hand-over to the centre, records it), and mark alarms no step can reach any more."""
        for alarm in await self._io(self._store.routing_open):
            # Before the steps done: a report that ends the wait has recorded its steps.
            held = await self._awaiting_dwelling_sms(alarm, now)
            plan = self._plan(alarm)
            done = await self._io(self._store.steps_done, alarm.id)
            if alarm.centre_handed_at is not None:
                done |= {st.index for st in plan if st.target.kind == "centre"}
            taken = alarm.acknowledged_at
            technical = alarm.kind is AlarmKind.TECHNICAL and not self._operator_only(alarm)
            if technical and self._centre is not None:
                # Trouble (offline, sensor silent, battery) goes to the alarm centre as its
                # own Contact ID code; the operators' queue handles it, nobody escalates.
                await self._centre.queue_event(alarm, TROUBLE_ROUND, now)
            for st in routing.due(plan, now=now, taken_on_at=taken, done=done):
                if held and st.target.kind != "centre":
                    continue  # the dwelling may have texted them: its report decides
                if st.target.kind == "centre":
                    await self._to_centre(alarm, st, now)
                else:
                    await self._to_contact(alarm, st, now)
                done.add(st.index)
            remaining = [st for st in plan if st.index not in done]
            if not remaining or (taken is not None and all(st.due_at > taken for st in remaining)):
                await self._io(self._store.mark_routed, alarm.id)

    async def _to_centre(self, alarm: AlarmRecord, st: routing.DueStep, now: float) -> None:
        step = await self._io(
            self._store.update,
            alarm.id,
            lambda r: lifecycle.hand_to_centre(r, now),
            at=now,
            by="hub",
            note=st.reason,
        )
        if step.changed:
            log.info("alarm %s handed to the alarm centre (%s)", alarm.id, st.reason)
            self._emit(step.record, step.what)
        if self._centre is not None:
            await self._centre.queue_event(step.record, st.index, now)

    async def _to_contact(self, alarm: AlarmRecord, st: routing.DueStep, now: float) -> None:
        contact_id = st.target.contact_id or ""
        contact = self.contact(alarm.dwelling, contact_id)
        targets = contact.targets if contact is not None else ()
        why = _unreachable(contact)
        if why is not None:
            log.error(
                "alarm %s in %s: step %d cannot reach contact %s (%s)",
                alarm.id,
                alarm.dwelling,
                st.index,
                contact_id,
                why,
            )
            await self._io(
                self._store.enqueue, alarm.id, contact_id, "none#0", st.index, now, failed=why
            )
            await self._io(self._store.log_event, alarm.id, now, "failed", contact_id, why)
            return
        channel = channel_of(targets, 0)
        await self._io(self._store.enqueue, alarm.id, contact_id, channel, st.index, now)

    def _on_link_state(self, state: LinkState) -> None:
        """The alarm centre cannot be reached (or can again): an operator alarm."""
        now = self._clock()
        key = "alarm_centre_link"
        if state.reachable:
            coro = self.clear_technical(HUB_DWELLING, key, now)
        else:
            coro = self.raise_technical(HUB_DWELLING, key, Severity.HIGH, {"reachable": False}, now)
        task = asyncio.get_running_loop().create_task(coro)
        self._link_tasks.add(task)
        task.add_done_callback(self._link_tasks.discard)

    def centre_state(self) -> LinkState | None:
        """The alarm-centre link's state (None: no link configured)."""
        return self._centre.link.state() if self._centre is not None else None

    def _operator_only(self, alarm: AlarmRecord) -> bool:
        """A technical alarm operators alone see (e.g. "refused"), or a test alarm the hub
        asked for (sensors.commands): never mailed to family, never to the alarm centre."""
        if is_test_alarm(dict(alarm.detail)) is not None:
            return True
        return (
            alarm.kind is AlarmKind.TECHNICAL
            and alarm.detail.get("key") in self.settings.operator_only_keys
        )

    # -- all-clears --------------------------------------------------------------------

    async def _queue_all_clears(self, now: float) -> None:
        """An all-clear row for each contact told of an alarm that has ended lately
        (`all_clear_within_s`), except one who cannot be reached, the contact who closed it
        or is with the resident (they know) and one outside their hours: their row is
        recorded as skipped, so it is not asked again."""
        within = self.settings.all_clear_within_s
        if within <= 0:
            return
        due = await self._io(self._store.all_clears_due, now - within)
        if not due:
            return
        alarms = await self._io(self._store.get_many, sorted({a for a, _, _ in due}))
        for alarm_id, contact_id, reached in due:
            alarm = alarms.get(alarm_id)
            if alarm is None:
                continue
            contact = self.contact(alarm.dwelling, contact_id)
            targets = contact.targets if contact is not None else ()
            skip = _unreachable(contact) or self._no_all_clear_for(alarm, contact_id, now)
            channel = _first_channel(targets, reached)
            added = await self._io(
                self._store.enqueue,
                alarm_id,
                contact_id,
                channel,
                ALL_CLEAR_ROUND,
                now,
                skipped=skip,
            )
            if added and skip is None:
                log.info("alarm %s is over: all-clear queued for contact %s", alarm_id, contact_id)
                self._wake.set()

    def _no_all_clear_for(self, alarm: AlarmRecord, contact_id: str, now: float) -> str | None:
        """Why this contact needs no all-clear now, or None."""
        if alarm.responder == contact_id and alarm.response in (
            Response.ARRIVED,
            Response.CLOSED,
        ):
            return "the contact was with the resident or closed it"
        policy = self._contacts.policy(alarm.dwelling)
        if not routing.may_tell(policy, contact_id, alarm.kind, now, self._tz):
            return "outside the contact's hours"
        return None

    def _closer(self, alarm: AlarmRecord) -> str | None:
        """The contact who closed `alarm`, as they are named (None: not a contact)."""
        if alarm.responder is None or alarm.response is not Response.CLOSED:
            return None
        contact = self.contact(alarm.dwelling, alarm.responder)
        if contact is None or alarm.resolved_by != responder_label(contact):
            return None
        return alarm.resolved_by

    async def _deliver_all_clear(self, row: OutboxRow) -> None:
        now = self._clock()
        alarm = await self._io(self._store.get, row.alarm_id)
        if alarm is None or alarm.state is not AlarmState.RESOLVED:
            # Re-opened cannot happen (resolved is final); an unknown alarm was deleted.
            await self._io(self._store.finish_all, [row.id], OutboxStatus.SKIPPED, now, "not over")
            return
        found = await self._reachable(
            [row], alarm.id, self.contact(alarm.dwelling, row.contact_id), now
        )
        if found is None:
            return
        contact, index = found
        subject, body, short = render_all_clear(
            alarm,
            lang=language(contact.language, self.settings.language),
            contact_name=contact.name,
            dwelling_label=self.dwelling_label(alarm.dwelling),
            tz=self.settings.timezone,
            closer=self._closer(alarm),
        )
        note = Notification(
            alarm.id,
            contact,
            subject,
            body,
            "",
            ALL_CLEAR_ROUND,
            short=short,
            kind=alarm.kind,
            severity=alarm.severity,
        )
        await self._send(index, note, [row], {alarm.id: ALL_CLEAR_ROUND})

    async def _deliver_claim(self, claimed: OutboxRow) -> None:
        """Deliver what one claim took: one row, or (folding) all due rows of its dwelling,
        contact and channel, as one mail."""
        if claimed.round == ALL_CLEAR_ROUND:  # claimed alone (AlarmStore.claim)
            await self._deliver_all_clear(claimed)
            return
        if self.settings.fold_window_s <= 0:
            await self._deliver(claimed)
            return
        rows = await self._io(self._store.batch, claimed.id)
        if len(rows) <= 1:
            await self._deliver(claimed)
            return
        alarms = await self._io(self._store.get_many, [r.alarm_id for r in rows])
        plan, skip = fold.plan(rows, alarms)
        if skip:
            await self._io(
                self._store.finish_all,
                [r.id for r in skip],
                OutboxStatus.SKIPPED,
                self._clock(),
                "no longer unacknowledged",
            )
        if plan is None:
            return
        if plan.folded:
            await self._deliver_folded(plan)
        else:  # one alarm left (perhaps with two rounds due): its own mail carries them
            await self._deliver(plan.head, also=plan.send[1:])

    async def _reachable(
        self, rows: Sequence[OutboxRow], alarm_id: str, contact: Contact | None, now: float
    ) -> tuple[Contact, int] | None:
        """The contact and the index of its target `rows` go to, or None (and the rows
        failed) when the contact or that target is gone."""
        row = rows[0]
        index = target_index(row.channel)
        if contact is not None and index < len(contact.targets):
            return contact, index
        what = "contact removed" if contact is None else f"no target {row.channel!r} any more"
        log.warning("notification %d for alarm %s dropped: %s", row.id, alarm_id, what)
        await self._io(self._store.finish_all, [r.id for r in rows], OutboxStatus.FAILED, now, what)
        return None

    async def _deliver_folded(self, plan: fold.FoldPlan[OutboxRow]) -> None:
        """One mail for several alarms of one dwelling to one contact (docs/alerts.md)."""
        s = self.settings
        now = self._clock()
        head, row = plan.headline, plan.head
        found = await self._reachable(
            plan.send, head.id, self.contact(head.dwelling, row.contact_id), now
        )
        if found is None:
            return
        contact, index = found
        lang = language(contact.language, s.language)
        ack_url = self.ack_url(head.id, contact.id, now, link_key=contact.link_key, batch=row.batch)
        label = self.dwelling_label(head.dwelling)
        centre = any(a.centre_required for a in plan.alarms)
        subject, body = render_folded_mail(
            plan.alarms,
            lang=lang,
            contact_name=contact.name,
            dwelling_label=label,
            ack_url=ack_url,
            ack_expires_at=now + s.ack_link_ttl_s,
            tz=s.timezone,
            now=now,
            list_max=s.fold_list_max,
            alarm_centre=centre,
        )
        short = render_folded_short(
            plan.alarms, lang=lang, dwelling_label=label, alarm_centre=centre
        )
        note = Notification(
            head.id,
            contact,
            subject,
            body,
            ack_url,
            row.round,
            short=short,
            kind=head.kind,
            severity=head.severity,
        )
        await self._send(index, note, plan.send, plan.rounds())

    async def _deliver(self, row: OutboxRow, also: Sequence[OutboxRow] = ()) -> None:
        """One alarm's message; `also`: more rows of the same alarm and contact it delivers."""
        s = self.settings
        now = self._clock()
        rows = (row, *also)
        alarm = await self._io(self._store.get, row.alarm_id)
        if alarm is None or alarm.state not in lifecycle.UNACKNOWLEDGED:
            await self._io(
                self._store.finish_all,
                [r.id for r in rows],
                OutboxStatus.SKIPPED,
                now,
                "no longer unacknowledged",
            )
            return
        found = await self._reachable(
            rows, alarm.id, self.contact(alarm.dwelling, row.contact_id), now
        )
        if found is None:
            return
        contact, index = found
        lang = language(contact.language, s.language)
        ack_url = self.ack_url(alarm.id, contact.id, now, link_key=contact.link_key)
        label = self.dwelling_label(alarm.dwelling)
        subject, body = render_mail(
            alarm,
            lang=lang,
            contact_name=contact.name,
            dwelling_label=label,
            ack_url=ack_url,
            ack_expires_at=now + s.ack_link_ttl_s,
            round_=0,
            tz=s.timezone,
            alarm_centre=alarm.centre_required,
        )
        short = render_short(
            alarm, lang=lang, dwelling_label=label, alarm_centre=alarm.centre_required
        )
        note = Notification(
            alarm.id,
            contact,
            subject,
            body,
            ack_url,
            row.round,
            short=short,
            kind=alarm.kind,
            severity=alarm.severity,
        )
        await self._send(index, note, rows, {alarm.id: max(r.round for r in rows)})

    def _thread_ref(self, row: OutboxRow) -> str | None:
        """The Message-ID-style reference every mail of this row's thread carries."""
        if row.thread is None:
            return None
        host = urlsplit(self.settings.public_url).hostname or "mz-hub"
        return f"<mz-thread.{row.thread}@{host}>"

    async def _send(
        self,
        index: int,
        note: Notification,
        rows: Sequence[OutboxRow],
        rounds: dict[str, int],
    ) -> None:
        """Hand one message to the contact's target `index` and record the outcome on every
        row it delivers and every alarm it carries (`rounds`: the step, per alarm). A
        target that fails for good (or keeps failing) falls back to the contact's next."""
        s = self.settings
        row = rows[0]
        ids = [r.id for r in rows]
        note = replace(note, thread=self._thread_ref(row))
        contact = note.contact
        target = contact.targets[index]
        shown = redact(target)
        by = f"{target_kind(target)}:{contact.id}"
        try:
            await asyncio.wait_for(self._sender.send(target, note), timeout=s.send_timeout_s)
        except ChannelError as exc:
            # Each row counts its own attempts (a folded row may have had fewer).
            retry = [r for r in rows if exc.retryable and r.attempts < s.attempts_per_target]
            give_up = [r for r in rows if r not in retry]
            for r in retry:
                delay = s.retry_backoff_s * 2 ** (r.attempts - 1)
                log.warning(
                    "notification %d (alarm %s) to %s failed, attempt %d of %d, retry in "
                    "%.0f s: %s",
                    r.id,
                    r.alarm_id,
                    shown,
                    r.attempts,
                    s.attempts_per_target,
                    delay,
                    exc,
                )
                await self._io(self._store.retry_later, r.id, self._clock() + delay, str(exc))
            if give_up:
                await self._give_up(give_up, contact, index, exc)
            return
        except TimeoutError:
            # The thread may still hand the mail over: unknown, not resent (see docs).
            log.warning(
                "notification %d (alarm %s) timed out; marked unknown", row.id, note.alarm_id
            )
            await self._io(
                self._store.finish_all, ids, OutboxStatus.UNKNOWN, self._clock(), "timeout"
            )
            for alarm_id in rounds:
                await self._io(
                    self._store.log_event,
                    alarm_id,
                    self._clock(),
                    _delivery_event(row, "unknown"),
                    by,
                    shown,
                )
            return
        except asyncio.CancelledError:
            # Stopping mid-send: the message may or may not be out. Same policy as a crash.
            self._store.finish_all(ids, OutboxStatus.UNKNOWN, self._clock(), "stopped mid-send")
            raise
        except Exception as exc:
            log.exception(
                "alarm %s NOT delivered to contact %s: channel bug", note.alarm_id, contact.id
            )
            await self._give_up(list(rows), contact, index, ChannelError(by, repr(exc)))
            return
        sent_at = self._clock()
        if row.round == ALL_CLEAR_ROUND:  # the alarm is over: nothing of it changes
            await self._io(self._store.finish_all, ids, OutboxStatus.SENT, sent_at)
            await self._io(self._store.log_event, row.alarm_id, sent_at, "all_clear", by, shown)
            log.info("alarm %s: all-clear sent to %s via %s", row.alarm_id, contact.id, shown)
            return
        folded = len(rounds) > 1
        # The rows SENT and the alarms NOTIFIED in one transaction.
        steps = await self._io(
            self._store.update_many,
            list(rounds),
            lambda r: lifecycle.notified(r, sent_at),
            at=sent_at,
            by=by,
            sent=ids,
            # The audit trail says where it went, and whether inside a folded mail.
            note=f"{shown}; gebundeld: één bericht voor {len(rounds)} meldingen "
            f"(bericht {row.batch})"
            if folded
            else shown,
        )
        if folded:
            log.info(
                "alarms of %s: %s notified via %s with %d alarms in one folded message (%s)",
                contact.dwelling,
                contact.id,
                shown,
                len(rounds),
                row.batch,
            )
        else:
            log.info(
                "alarm %s: %s notified via %s (step %d)",
                note.alarm_id,
                contact.id,
                shown,
                row.round,
            )
        for step in steps:
            self._emit(step.record, step.what)

    async def _give_up(
        self, rows: Sequence[OutboxRow], contact: Contact, index: int, exc: ChannelError
    ) -> None:
        """These rows failed on target `index`: record it, and queue them on the contact's
        next target (the fallback), or say that the contact could not be reached."""
        now = self._clock()
        target = contact.targets[index]
        by = f"{target_kind(target)}:{contact.id}"
        await self._io(
            self._store.finish_all, [r.id for r in rows], OutboxStatus.FAILED, now, str(exc)
        )
        woken = False
        for r in rows:
            await self._io(
                self._store.log_event,
                r.alarm_id,
                now,
                _delivery_event(r, "failed"),
                by,
                f"{redact(target)}: {exc}",
            )
            nxt = index + 1 if index + 1 < len(contact.targets) else None
            if r.round == ALL_CLEAR_ROUND:
                nxt = await self._untried(r, contact, index)
            if nxt is None and r.round == ALL_CLEAR_ROUND:
                log.warning(
                    "all-clear of alarm %s not delivered to contact %s: every channel failed",
                    r.alarm_id,
                    contact.id,
                )
                continue
            if nxt is None:
                log.error(
                    "alarm %s NOT delivered to contact %s: every channel failed (last %s: %s)",
                    r.alarm_id,
                    contact.id,
                    redact(target),
                    exc,
                )
                continue
            channel = channel_of(contact.targets, nxt)
            log.warning(
                "alarm %s: %s failed for contact %s (%s); falling back to %s",
                r.alarm_id,
                redact(target),
                contact.id,
                exc,
                redact(contact.targets[nxt]),
            )
            await self._io(self._store.enqueue, r.alarm_id, r.contact_id, channel, r.round, now)
            woken = True
        if woken:
            self._wake.set()

    async def _untried(self, row: OutboxRow, contact: Contact, index: int) -> int | None:
        """The contact's next target for an all-clear that failed on target `index`: it
        starts where the alarm got through (perhaps not the first), so after the last it
        goes round to the first ones; None once every target was tried."""
        n = len(contact.targets)
        tried = {
            r.channel
            for r in await self._io(self._store.outbox, row.alarm_id)
            if r.round == ALL_CLEAR_ROUND and r.contact_id == row.contact_id
        }
        for step in range(1, n):
            i = (index + step) % n
            if channel_of(contact.targets, i) not in tried:
                return i
        return None


def _first_channel(targets: Sequence[str], reached: str) -> str:
    """The channel an all-clear tries first: the one that reached the contact with the
    alarm (an alarm whose mail failed went by their next channel: so does its end), if
    the contact still has it at that place; else their first."""
    if not targets:
        return "none#0"
    index = target_index(reached)
    if index < len(targets) and reached == channel_of(targets, index):
        return reached
    return channel_of(targets, 0)


def _unreachable(contact: Contact | None) -> str | None:
    """Why no message can go to `contact` (removed, or without a channel), or None."""
    if contact is None:
        return "contact removed"
    return None if contact.targets else "no notification channel"


def _delivery_event(row: OutboxRow, what: str) -> str:
    """The timeline entry for a message that failed or may not be out (`what`: "failed",
    "unknown"): an all-clear's has its own, so it never reads as an alarm not delivered."""
    return f"all_clear_{what}" if row.round == ALL_CLEAR_ROUND else what


def _check_note(note: str) -> None:
    if len(note) > NOTE_MAX:
        raise HandlingError(f"a note has at most {NOTE_MAX} characters, not {len(note)}")


def channel_of(targets: Sequence[str], index: int) -> str:
    """The outbox row's channel for the contact's target `index` ("email#1"); the
    inverse of `target_index`."""
    return f"{target_kind(targets[index])}#{index}"


def target_index(channel: str) -> int:
    """The index into the contact's targets an outbox row's channel ("email#1") names;
    rows from before per-contact targets ("email") used the first."""
    _, _, index = channel.rpartition("#")
    return int(index) if index.isdigit() else 0
