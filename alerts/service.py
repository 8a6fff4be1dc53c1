"""The alarm service: takes alarms in, keeps their lifecycle durable, delivers notifications.

The hub calls the async methods from its ingest and presence code and the console;
`run()` is the delivery and re-notification loop. All state lives in SQLite (see
`alerts.store`), so a restart (even SIGKILL) loses no open alarm, and a notification is
sent at most once (see docs/alerts.md, "Durability").
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
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from alerts import fold, lifecycle
from alerts.channels import Notification, NotificationChannel
from alerts.digest import render_folded_mail
from alerts.errors import ChannelError, TokenRevokedError, UnknownAlarmError
from alerts.model import (
    OPEN_STATES,
    AlarmChange,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    Contact,
    Severity,
)
from alerts.present import render_mail
from alerts.settings import AlertSettings
from alerts.store import AlarmStore, OutboxRow, OutboxStatus
from alerts.texts import language
from alerts.tokens import AckClaim, AckTokens
from sensors.contract import AlarmMessage

__all__ = ["AlarmService", "AlarmStats", "AlertSettings", "ContactDirectory", "LatencyStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[AlarmChange], None]


class DwellingLike(Protocol):
    @property
    def label(self) -> str: ...


class ContactDirectory(Protocol):
    """Who to notify for a dwelling, and what to call the dwelling in a mail.

    The hub's `Registry` satisfies it.
    """

    def contacts_for(self, dwelling_id: str) -> list[Contact]: ...
    def dwelling(self, dwelling_id: str) -> DwellingLike | None: ...


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
        db_path: Path,
        channels: Sequence[NotificationChannel],
        contacts: ContactDirectory,
        settings: AlertSettings,
        clock: Callable[[], float] = time.time,
        *,
        worker_id: str | None = None,
    ) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique: {names}")
        self._store = AlarmStore(db_path)
        self._channels = {c.name: c for c in channels}
        self._contacts = contacts
        self.settings = settings
        self._clock = clock
        self._tokens = AckTokens(settings.secret_key, settings.ack_link_ttl_s)
        self._worker = worker_id or _default_worker_id()
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        # Alarms already reported as undeliverable (no contact can be reached): ERROR once.
        self._undeliverable: set[str] = set()

    @property
    def store(self) -> AlarmStore:
        return self._store

    def close(self) -> None:
        self._store.close()

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
        # SQLite waits on locks held by other hub processes: keep that off the event loop.
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
            if existing is not None:
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
            id=uuid.uuid4().hex,
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
        """Somebody takes the alarm on; stops re-notification. Idempotent."""
        return await self._act(alarm_id, lifecycle.acknowledge, "acknowledged", by, note, now)

    async def resolve(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord:
        return await self._act(alarm_id, lifecycle.resolve, "resolved", by, note, now)

    async def _act(
        self,
        alarm_id: str,
        transition: Callable[[AlarmRecord, str, str, float], lifecycle.Step],
        verb: str,
        by: str,
        note: str,
        now: float,
    ) -> AlarmRecord:
        step = await self._io(
            self._store.update,
            alarm_id,
            lambda r: transition(r, by, note, now),
            at=now,
            by=by,
            note=note,
        )
        if step.changed:
            log.info("alarm %s %s by %s", alarm_id, verb, by)
            self._emit(step.record, step.what)
        return step.record

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
        """Acknowledge through a mailed link: the token names the alarm and the contact.

        Refused (a `TokenError`) when the link is not valid or no longer: see
        `verify_ack_token`.
        """
        claim, alarm, contact = self._verified(token)
        if alarm is None or contact is None:  # a verified link of a known alarm has both
            raise UnknownAlarmError(claim.alarm_id)
        return await self._acknowledge_claim(claim, f"{contact.name} (mantelzorger)", note)

    async def _acknowledge_claim(self, claim: AckClaim, by: str, note: str) -> AlarmRecord:
        """A folded mail's link acknowledges every alarm that mail carried to the contact
        (those not over yet); any link acknowledges its own alarm, as `acknowledge`."""
        now = self._clock()
        if claim.batch is not None:
            carried = await self._io(self._store.batch_alarms, claim.batch, claim.contact_id)
            if claim.alarm_id in carried:
                others = [a for a in carried if a != claim.alarm_id]
                steps = await self._io(
                    self._store.update_many,
                    others,
                    lambda r: lifecycle.acknowledge_if_open(r, by, note, now),
                    at=now,
                    by=by,
                    note=note,
                )
                changed = [st for st in steps if st.changed]
                if changed:
                    log.info(
                        "%d alarms of a folded mail acknowledged by %s with alarm %s",
                        len(changed),
                        by,
                        claim.alarm_id,
                    )
                for st in changed:
                    self._emit(st.record, st.what)
        return await self.acknowledge(claim.alarm_id, by, note, now)

    # -- queries (fast SQLite reads; fine on the event loop) ----------------------------------

    def get(self, alarm_id: str) -> AlarmRecord | None:
        return self._store.get(alarm_id)

    def open_alarms(self) -> list[AlarmRecord]:
        return self._store.open_alarms()

    def recent(self, limit: int = 50) -> list[AlarmRecord]:
        return self._store.recent(limit)

    def history(self, alarm_id: str) -> list[tuple[float, str, str | None, str]]:
        return self._store.log(alarm_id)

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
        """Deliver queued notifications and queue re-notifications until `stop` is set."""
        log.info("alarm delivery loop started (worker %s)", self._worker)
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                # Only this supervisor catches broadly: the store or a directory failed.
                # Alarms stay queued in SQLite; the next tick tries again.
                log.exception(
                    "alarm delivery tick failed; retrying in %.1f s", self.settings.poll_interval_s
                )
            waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=self.settings.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for w in pending:
                w.cancel()
        log.info("alarm delivery loop stopped")

    async def tick(self) -> None:
        """One pass: expire dead claims, queue due rounds, send what is due."""
        now = self._clock()
        for row in await self._io(
            self._store.expire_leases, now - self.settings.sending_lease_s, now
        ):
            log.warning(
                "notification %d (alarm %s, contact %s, round %d) was left 'sending' by %s; "
                "marked unknown and not resent (the next round covers a lost mail)",
                row.id,
                row.alarm_id,
                row.contact_id,
                row.round,
                row.claimed_by,
            )
        await self._schedule(now)
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

    async def _schedule(self, now: float) -> None:
        s = self.settings
        for alarm in await self._io(self._store.unacknowledged):
            if alarm.severity not in s.notify_severities or self._operator_only(alarm):
                continue
            round_ = lifecycle.due_round(alarm, now, s.renotify_interval_s, s.max_rounds)
            if round_ is None or await self._io(self._store.has_round, alarm.id, round_):
                continue
            targets = [
                (c, ch)
                for c in self._contacts.contacts_for(alarm.dwelling)
                for ch in self._channels.values()
                if ch.accepts(c)
            ]
            if not targets:
                if alarm.id not in self._undeliverable:
                    self._undeliverable.add(alarm.id)
                    log.error(
                        "alarm %s in %s cannot be delivered: no contact reachable on any channel",
                        alarm.id,
                        alarm.dwelling,
                    )
                continue
            for contact, channel in targets:
                await self._io(self._store.enqueue, alarm.id, contact.id, channel.name, round_, now)

    def _operator_only(self, alarm: AlarmRecord) -> bool:
        """A technical alarm operators alone see (e.g. "refused"): never mailed to family."""
        return (
            alarm.kind is AlarmKind.TECHNICAL
            and alarm.detail.get("key") in self.settings.operator_only_keys
        )

    async def _deliver_claim(self, claimed: OutboxRow) -> None:
        """Deliver what one claim took: one row, or (folding) all due rows of its dwelling,
        contact and channel, as one mail."""
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
    ) -> tuple[Contact, NotificationChannel] | None:
        """The contact and channel for `rows`, or None (and the rows failed) when gone."""
        row = rows[0]
        channel = self._channels.get(row.channel)
        if contact is not None and channel is not None:
            return contact, channel
        what = "contact removed" if contact is None else f"no channel {row.channel!r} here"
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
        contact, channel = found
        lang = language(contact.language, s.language)
        ack_url = self.ack_url(head.id, contact.id, now, link_key=contact.link_key, batch=row.batch)
        subject, body = render_folded_mail(
            plan.alarms,
            lang=lang,
            contact_name=contact.name,
            dwelling_label=self.dwelling_label(head.dwelling),
            ack_url=ack_url,
            ack_expires_at=now + s.ack_link_ttl_s,
            tz=s.timezone,
            now=now,
            list_max=s.fold_list_max,
        )
        note = Notification(head.id, contact, subject, body, ack_url, row.round)
        await self._send(channel, note, plan.send, plan.rounds())

    async def _deliver(self, row: OutboxRow, also: Sequence[OutboxRow] = ()) -> None:
        """One alarm's mail; `also`: more rows of the same alarm and contact it delivers."""
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
        contact, channel = found
        lang = language(contact.language, s.language)
        ack_url = self.ack_url(alarm.id, contact.id, now, link_key=contact.link_key)
        subject, body = render_mail(
            alarm,
            lang=lang,
            contact_name=contact.name,
            dwelling_label=self.dwelling_label(alarm.dwelling),
            ack_url=ack_url,
            ack_expires_at=now + s.ack_link_ttl_s,
            round_=row.round,
            tz=s.timezone,
        )
        note = Notification(alarm.id, contact, subject, body, ack_url, row.round)
        await self._send(channel, note, rows, {alarm.id: max(r.round for r in rows)})

    def _thread_ref(self, row: OutboxRow) -> str | None:
        """The Message-ID-style reference every mail of this row's thread carries."""
        if row.thread is None:
            return None
        host = urlsplit(self.settings.public_url).hostname or "mz-hub"
        return f"<mz-thread.{row.thread}@{host}>"

    async def _send(
        self,
        channel: NotificationChannel,
        note: Notification,
        rows: Sequence[OutboxRow],
        rounds: dict[str, int],
    ) -> None:
        """Hand one mail to its channel and record the outcome on every row it delivers and
        every alarm it carries (`rounds`: the round it delivers, per alarm)."""
        s = self.settings
        row = rows[0]
        ids = [r.id for r in rows]
        note = replace(note, thread=self._thread_ref(row))
        contact = note.contact
        try:
            await asyncio.wait_for(channel.send(note), timeout=s.send_timeout_s)
        except ChannelError as exc:
            # Each row counts its own attempts (a folded row may have had fewer).
            retry = [r for r in rows if exc.retryable and r.attempts < s.max_attempts]
            give_up = [r for r in rows if r not in retry]
            for r in retry:
                delay = s.retry_backoff_s * 2 ** (r.attempts - 1)
                log.warning(
                    "notification %d (alarm %s) failed, attempt %d of %d, retry in %.0f s: %s",
                    r.id,
                    r.alarm_id,
                    r.attempts,
                    s.max_attempts,
                    delay,
                    exc,
                )
                await self._io(self._store.retry_later, r.id, self._clock() + delay, str(exc))
            for r in give_up:
                log.error(
                    "alarm %s NOT delivered to contact %s via %s (round %d): %s",
                    r.alarm_id,
                    contact.id,
                    channel.name,
                    r.round,
                    exc,
                )
            if give_up:
                await self._io(
                    self._store.finish_all,
                    [r.id for r in give_up],
                    OutboxStatus.FAILED,
                    self._clock(),
                    str(exc),
                )
            return
        except TimeoutError:
            # The thread may still hand the mail over: unknown, not resent (see docs).
            log.warning(
                "notification %d (alarm %s) timed out; marked unknown", row.id, note.alarm_id
            )
            await self._io(
                self._store.finish_all, ids, OutboxStatus.UNKNOWN, self._clock(), "timeout"
            )
            return
        except asyncio.CancelledError:
            # Stopping mid-send: the mail may or may not be out. Same policy as a crash.
            self._store.finish_all(ids, OutboxStatus.UNKNOWN, self._clock(), "stopped mid-send")
            raise
        except Exception as exc:
            log.exception(
                "alarm %s NOT delivered to contact %s: channel bug", note.alarm_id, contact.id
            )
            await self._io(
                self._store.finish_all, ids, OutboxStatus.FAILED, self._clock(), repr(exc)
            )
            return
        sent_at = self._clock()
        await self._io(self._store.finish_all, ids, OutboxStatus.SENT, sent_at)
        folded = len(rounds) > 1
        steps = await self._io(
            self._store.update_many,
            list(rounds),
            lambda r: lifecycle.notified(r, sent_at, rounds[r.id]),
            at=sent_at,
            by=f"{channel.name}:{contact.id}",
            # The audit trail says the alarm went out inside a folded mail, and which.
            note=f"gebundeld: één mail voor {len(rounds)} meldingen (mail {row.batch})"
            if folded
            else "",
        )
        if folded:
            log.info(
                "alarms of %s: %s notified via %s with %d alarms in one folded mail (mail %s)",
                contact.dwelling,
                contact.id,
                channel.name,
                len(rounds),
                row.batch,
            )
        else:
            log.info(
                "alarm %s: %s notified via %s (round %d)",
                note.alarm_id,
                contact.id,
                channel.name,
                row.round,
            )
        for step in steps:
            self._emit(step.record, step.what)
