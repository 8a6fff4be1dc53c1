"""The local fallback: when the hub has not confirmed an alarm in time, the dwelling texts
the mantelzorgers itself (its GSM modem) and sounds its local sounder.

What is pending is what the spool holds: an alarm row stays there until the hub's
end-to-end receipt names it (edge.spool, "receipts"), so a raise still in the spool
`after_s` after it was made is one the hub has not confirmed. A cancel in the spool for
the same alarm (the resident's "ik ben oke", a detector's all-clear) before then means
nothing is sent. Every contact of the local copy (`[fallback]` in edge.toml) gets the
text once per alarm; a send that fails (no network, no signal) is tried again every
`retry_s` while the hub still has not confirmed.

Reconciliation with the hub: every raise says the edge will text after `fallback_s`
(`Outbox.raise_detail`), and after texting the edge spools one more raise of the same
alarm (a new message id, the original time) whose detail says so: `sms_at` (when),
`sms_to` (the hub's contact ids it reached, comma separated), `sms_failed` (how many it
could not reach). It follows the original on the alarms topic, so the hub sees the two
in order; the hub records those contacts as notified by the dwelling and does not send
them its own first message (alerts.service, "texted by the dwelling"). Phone numbers stay
on the Pi: not on MQTT, never in full in a log line.

What has been texted is kept in the spool database (tables `fallback_alarms`,
`fallback_sms`, this module's own), so a restarted agent never texts anyone twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo

from edge.config import FallbackContact, FallbackSettings
from edge.drivers.gsm import GsmModem, Registration, Signal
from edge.errors import ModemError, SpoolError
from edge.outbox import Outbox
from edge.sms_texts import alarm_sms, clear_sms
from edge.spool import Spool
from sensors import contract
from sensors.commands import is_test_alarm
from sensors.errors import ContractError

log = logging.getLogger(__name__)

# Detail keys on the wire (alerts.service reads them; sensors.contract says what they mean).
FALLBACK_S: Final = contract.FALLBACK_DETAIL
SMS_AT: Final = contract.SMS_AT_DETAIL
SMS_TO: Final = contract.SMS_TO_DETAIL
SMS_FAILED: Final = contract.SMS_FAILED_DETAIL
MODEM_ID: Final = "gsm-modem"  # the modem's id among the devices of the status message

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS fallback_alarms (
    alarm_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,            -- 'open' (texting) or 'cancelled' (nothing to send)
    last_try REAL,                  -- wall clock of the last attempt
    reported TEXT,                  -- contact ids in the last report spooled for the hub
    sounded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fallback_sms (
    alarm_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (alarm_id, contact_id)
);
CREATE TABLE IF NOT EXISTS fallback_clear (  -- the all-clears texted after a cancel
    alarm_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (alarm_id, contact_id)
);
"""


def masked(phone: str) -> str:
    """A phone number as a log line may show it: "+316******78"."""
    return phone[:4] + "*" * max(0, len(phone) - 6) + phone[-2:]


class Sounder(Protocol):
    async def sound(self) -> None: ...


class SmsModem(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def send_sms(self, number: str, text: str) -> int: ...
    async def registration(self) -> Registration: ...
    async def signal(self) -> Signal: ...


class SerialSounder:
    """A sounder on a serial line: one line to switch it on, one `duration_s` later off."""

    def __init__(self, port: str, *, baudrate: int, on: str, off: str, duration_s: float) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on, self.off, self.duration_s = on, off, duration_s

    async def sound(self) -> None:
        import serial
        import serial_asyncio_fast

        try:
            _, writer = await serial_asyncio_fast.open_serial_connection(
                url=self.port, baudrate=self.baudrate
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            log.error("sounder %s: cannot open: %s", self.port, exc)
            return
        try:
            writer.write(self.on.encode("ascii") + b"\n")
            await writer.drain()
            await asyncio.sleep(self.duration_s)  # how long it sounds: the product's choice
            writer.write(self.off.encode("ascii") + b"\n")
            await writer.drain()
        except (serial.SerialException, OSError) as exc:
            log.error("sounder %s: write failed: %s", self.port, exc)
        finally:
            writer.close()


@dataclass(slots=True)
class FallbackStats:
    alarms_texted: int = 0  # alarms for which at least one contact got the text
    sms_sent: int = 0  # messages (parts) the modem accepted
    sms_failed: int = 0  # sends that failed (each contact, each attempt)
    reports: int = 0  # reports spooled for the hub
    sounded: int = 0
    cleared: int = 0  # all-clear messages (parts) the modem accepted


class FallbackBook:
    """What the fallback has done, in the spool's database (its own tables)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SpoolError(str(path), f"fallback tables: {exc}") from exc

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"fallback write failed: {exc}") from exc

    def state(self, alarm_id: str) -> tuple[str, float | None, str | None, bool] | None:
        row = self._db.execute(
            "SELECT state, last_try, reported, sounded FROM fallback_alarms WHERE alarm_id=?",
            (alarm_id,),
        ).fetchone()
        if row is None:
            return None
        return str(row[0]), row[1], row[2], bool(row[3])

    def cancelled(self, alarm_id: str) -> None:
        self._write(
            "INSERT INTO fallback_alarms (alarm_id, state) VALUES (?, 'cancelled')"
            " ON CONFLICT(alarm_id) DO NOTHING",
            (alarm_id,),
        )

    def tried(self, alarm_id: str, now: float) -> None:
        self._write(
            "INSERT INTO fallback_alarms (alarm_id, state, last_try) VALUES (?, 'open', ?)"
            " ON CONFLICT(alarm_id) DO UPDATE SET last_try=excluded.last_try",
            (alarm_id, now),
        )

    def reported(self, alarm_id: str, ids: str) -> None:
        self._write("UPDATE fallback_alarms SET reported=? WHERE alarm_id=?", (ids, alarm_id))

    def sounded(self, alarm_id: str) -> None:
        self._write("UPDATE fallback_alarms SET sounded=1 WHERE alarm_id=?", (alarm_id,))

    def sent(self, alarm_id: str, contact_id: str, now: float) -> None:
        self._write(
            "INSERT OR IGNORE INTO fallback_sms (alarm_id, contact_id, sent_at) VALUES (?, ?, ?)",
            (alarm_id, contact_id, now),
        )

    def texted(self, alarm_id: str) -> set[str]:
        rows = self._db.execute(
            "SELECT contact_id FROM fallback_sms WHERE alarm_id=?", (alarm_id,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def cleared(self, alarm_id: str, contact_id: str, now: float) -> None:
        self._write(
            "INSERT OR IGNORE INTO fallback_clear (alarm_id, contact_id, sent_at) VALUES (?, ?, ?)",
            (alarm_id, contact_id, now),
        )

    def told_clear(self, alarm_id: str) -> set[str]:
        rows = self._db.execute(
            "SELECT contact_id FROM fallback_clear WHERE alarm_id=?", (alarm_id,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def forget_except(self, alarm_ids: set[str]) -> None:
        """Drop what concerns alarms no longer in the spool (the hub has them)."""
        known = {str(r[0]) for r in self._db.execute("SELECT alarm_id FROM fallback_alarms")}
        for gone in known - alarm_ids:
            self._write("DELETE FROM fallback_alarms WHERE alarm_id=?", (gone,))
            self._write("DELETE FROM fallback_sms WHERE alarm_id=?", (gone,))
            self._write("DELETE FROM fallback_clear WHERE alarm_id=?", (gone,))

    def close(self) -> None:
        self._db.close()


class LocalFallback:
    """Watches the spool for alarms the hub has not confirmed; texts and sounds for them.

    `clock`: wall-clock seconds (an alarm's time is the wall clock of its making)."""

    def __init__(
        self,
        settings: FallbackSettings,
        *,
        dwelling: str,
        tz: ZoneInfo,
        spool: Spool,
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
        modem: Callable[[], SmsModem] | None = None,
        sounder: Sounder | None = None,
    ) -> None:
        self.settings = settings
        self.dwelling = dwelling
        self.tz = tz
        self.spool = spool
        self.outbox = outbox
        self._clock = clock
        self._modem = modem or (
            lambda: GsmModem(
                settings.modem,
                baudrate=settings.baudrate,
                command_timeout_s=settings.command_timeout_s,
                send_timeout_s=settings.send_timeout_s,
            )
        )
        if sounder is None and settings.sounder is not None:
            sounder = SerialSounder(
                settings.sounder,
                baudrate=settings.sounder_baudrate,
                on=settings.sounder_on,
                off=settings.sounder_off,
                duration_s=settings.sounder_s,
            )
        self._sounder = sounder
        self._sounding: set[asyncio.Task[None]] = set()
        self.book = FallbackBook(spool.path)
        self.stats = FallbackStats()
        self.modem_state = ""  # the last probe's finding: "ok", or what is wrong
        self._kinds = frozenset(settings.kinds)
        # An all-clear whose sending failed waits until then (alarm id: wall clock).
        self._clear_after: dict[str, float] = {}
        # Every raise tells the hub when the edge would text (the hub holds its own first
        # message to a late alarm until the edge's report comes).
        outbox.raise_detail = {FALLBACK_S: settings.after_s}

    async def run(self) -> None:
        """Check every `check_s`, and probe the modem every `probe_s`, until cancelled."""
        next_probe = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.check()
                if loop.time() >= next_probe:
                    await self.probe()
                    next_probe = loop.time() + self.settings.probe_s
                await asyncio.sleep(self.settings.check_s)
        finally:
            for task in self._sounding:
                task.cancel()
            self.book.close()

    async def probe(self) -> str:
        """Ask the modem for its network registration and signal (AT+CREG?/CEREG?, AT+CSQ),
        so a modem that could not text is found before an alarm needs it: "ok", or what
        is wrong (WARNING when that changes)."""
        modem = self._modem()
        try:
            await modem.open()
            try:
                reg, sig = await modem.registration(), await modem.signal()
            finally:
                await modem.close()
        except ModemError as exc:
            state = f"unusable ({exc.detail})"
        else:
            if not reg.registered:
                state = "not registered on a network"
            elif not sig.usable:
                state = "no signal"
            else:
                state = "ok"
        if state != self.modem_state:
            if state == "ok":
                log.info("GSM fallback: modem %s ready", self.settings.modem)
            else:
                log.warning(
                    "GSM fallback: modem %s %s: the edge could not text if the hub is away",
                    self.settings.modem,
                    state,
                )
        self.modem_state = state
        return state

    def health(self) -> contract.SensorHealth:
        """The modem as one more device in the status message (MODEM_ID, kind "modem"):
        "starting" until the first probe, then "ok" or "failed", so the operators see a
        dwelling whose fallback could not text."""
        state: Literal["ok", "failed", "starting"] = (
            "starting" if not self.modem_state else "ok" if self.modem_state == "ok" else "failed"
        )
        return contract.SensorHealth(sensor=MODEM_ID, kind="modem", state=state)

    def _unconfirmed(self) -> list[contract.AlarmMessage]:
        out: list[contract.AlarmMessage] = []
        for item in self.spool.unconfirmed_alarms():
            try:
                _, msg = contract.decode(item.topic, item.payload)
            except ContractError:
                continue  # not ours to judge here: the publisher sends it as it is
            if isinstance(msg, contract.AlarmMessage):
                out.append(msg)
        return out

    def due(self, now: float) -> list[contract.AlarmMessage]:
        """The raises to text for now: unconfirmed for `after_s`, not cancelled, of a kind
        the fallback is for, with a contact not yet texted and no attempt in `retry_s`."""
        msgs = self._unconfirmed()
        cancels = {m.alarm_id for m in msgs if m.action == "cancel"}
        for alarm_id in cancels:
            if self.book.state(alarm_id) is None:
                self.book.cancelled(alarm_id)
        self.book.forget_except({m.alarm_id for m in msgs})
        due: dict[str, contract.AlarmMessage] = {}
        for m in msgs:
            if m.action != "raise" or SMS_AT in m.detail or m.alarm_id in due:
                continue
            if m.kind not in self._kinds or now < m.ts + self.settings.after_s:
                continue
            if is_test_alarm(dict(m.detail)) is not None:
                continue  # the hub's test of the dwelling (edge.commands): nobody to text
            state = self.book.state(m.alarm_id)
            if state is not None:
                what, last_try, _, _ = state
                if what == "cancelled":
                    continue
                if last_try is not None and now < last_try + self.settings.retry_s:
                    continue
            if m.alarm_id in cancels:
                continue
            if self.book.texted(m.alarm_id) >= {c.id for c in self.settings.contacts}:
                continue
            due[m.alarm_id] = m
        return list(due.values())

    def clears_due(self, now: float) -> list[tuple[contract.AlarmMessage, set[str]]]:
        """The alarms the edge texted and the dwelling has since withdrawn while the hub
        has confirmed neither (raise and cancel both still in the spool; a hub that has the
        raise sends its own all-clear once the cancel reaches it), with the contacts
        texted and not yet told it is over; none tried within `retry_s`."""
        # A retry time that has passed says nothing any more (it would only grow).
        self._clear_after = {a: t for a, t in self._clear_after.items() if t > now}
        msgs = self._unconfirmed()
        raises = {m.alarm_id: m for m in msgs if m.action == "raise" and SMS_AT not in m.detail}
        out: list[tuple[contract.AlarmMessage, set[str]]] = []
        for m in msgs:
            raised = raises.get(m.alarm_id)
            if m.action != "cancel" or raised is None:
                continue
            if now < self._clear_after.get(m.alarm_id, 0.0):
                continue
            todo = self.book.texted(m.alarm_id) - self.book.told_clear(m.alarm_id)
            todo &= {c.id for c in self.settings.contacts}  # one removed since: nobody to text
            if todo:
                out.append((raised, todo))
        return out

    async def _text_clears(self, now: float) -> None:
        """Tell the contacts the edge texted an alarm that the dwelling withdrew it (the
        hub, when it is back, does the same for the contacts it told itself)."""
        due = self.clears_due(now)
        if not due:
            return
        modem = self._modem()
        try:
            await modem.open()
        except ModemError as exc:
            log.error(
                "GSM fallback: all-clear not sent: %s; trying again in %.0f s",
                exc,
                self.settings.retry_s,
            )
            for alarm, _ in due:
                self._clear_after[alarm.alarm_id] = now + self.settings.retry_s
            return
        try:
            for alarm, todo in due:
                for contact in self.settings.contacts:
                    if contact.id not in todo:
                        continue
                    if await self._send(modem, alarm, contact, clear=True):
                        self.book.cleared(alarm.alarm_id, contact.id, self._clock())
                    else:
                        self._clear_after[alarm.alarm_id] = now + self.settings.retry_s
        finally:
            await modem.close()

    async def check(self) -> None:
        """Text (and sound) for every alarm that is due now; text the all-clear for every
        texted alarm the dwelling has withdrawn since."""
        now = self._clock()
        due = self.due(now)
        await self._text_due(due, now)
        await self._text_clears(now)  # after the alarms: it never holds an alarm's text up

    async def _text_due(self, due: list[contract.AlarmMessage], now: float) -> None:
        if not due:
            return
        for alarm in due:
            self.book.tried(alarm.alarm_id, now)
        log.warning(
            "%d alarms not confirmed by the hub after %.0f s: texting the mantelzorgers",
            len(due),
            self.settings.after_s,
        )
        await self._text(due, now)
        for alarm in due:
            self._sound(alarm.alarm_id)
            self._report(alarm, now)

    async def _text(self, alarms: list[contract.AlarmMessage], now: float) -> None:
        modem = self._modem()
        try:
            await modem.open()
        except ModemError as exc:
            # ERROR: an alarm not delivered (yet): tried again in retry_s.
            log.error("GSM fallback: %s; trying again in %.0f s", exc, self.settings.retry_s)
            self.stats.sms_failed += sum(len(self.settings.contacts) for _ in alarms)
            return
        try:
            for alarm in alarms:
                done = self.book.texted(alarm.alarm_id)
                for contact in self.settings.contacts:
                    if contact.id not in done and await self._send(modem, alarm, contact):
                        self.book.sent(alarm.alarm_id, contact.id, self._clock())
                if not done and self.book.texted(alarm.alarm_id):
                    self.stats.alarms_texted += 1
        finally:
            await modem.close()

    async def _send(
        self,
        modem: SmsModem,
        alarm: contract.AlarmMessage,
        contact: FallbackContact,
        *,
        clear: bool = False,
    ) -> bool:
        """Text `contact` the alarm (or, `clear`, that it is over); False if it failed."""
        phone = contact.phone.get_secret_value()
        render = clear_sms if clear else alarm_sms
        parts = render(alarm.kind, alarm.ts, self.tz, self.settings.label, contact.language)
        what = "all-clear of alarm" if clear else "alarm"
        try:
            for part in parts:
                await modem.send_sms(phone, part)
                if clear:
                    self.stats.cleared += 1
                else:
                    self.stats.sms_sent += 1
        except ModemError as exc:
            self.stats.sms_failed += 1
            log.error(
                "GSM fallback: %s %s to contact %s (%s) not sent: %s",
                what,
                alarm.alarm_id,
                contact.id,
                masked(phone),
                exc,
            )
            return False
        log.warning(
            "GSM fallback: %s %s texted to contact %s (%s)",
            what,
            alarm.alarm_id,
            contact.id,
            masked(phone),
        )
        return True

    def _sound(self, alarm_id: str) -> None:
        state = self.book.state(alarm_id)
        if self._sounder is None or (state is not None and state[3]):
            return
        self.book.sounded(alarm_id)
        self.stats.sounded += 1
        task = asyncio.get_running_loop().create_task(self._sounder.sound())
        self._sounding.add(task)
        task.add_done_callback(self._sounding.discard)

    def _report(self, alarm: contract.AlarmMessage, now: float) -> None:
        """Spool the edge's report for the hub when what it knows has changed."""
        texted = self.book.texted(alarm.alarm_id)
        ids = ",".join(c.id for c in self.settings.contacts if c.id in texted)
        state = self.book.state(alarm.alarm_id)
        if state is not None and state[2] == ids:
            return
        failed = len(self.settings.contacts) - len(texted)
        extra = {SMS_AT: now, SMS_TO: ids, SMS_FAILED: failed}
        detail = {**alarm.detail, **extra}
        if len(detail) > contract.MAX_DETAIL_KEYS:
            detail = {FALLBACK_S: self.settings.after_s, **extra}
        report = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling=self.dwelling,
            ts=alarm.ts,
            action="raise",
            alarm_id=alarm.alarm_id,
            kind=alarm.kind,
            severity=alarm.severity,
            sensor=alarm.sensor,
            detail=detail,
        )
        self.outbox.put(report)
        self.book.reported(alarm.alarm_id, ids)
        self.stats.reports += 1
