"""The daily "alles goed" message to mantelzorgers who switched it on (on the family page).

Every day at `summary_time` (local time, default 08:00) each such contact gets one short
message about their dwelling's last 24 hours: "Alles goed bij Unit 3" when there was no
alarm, none is open and the dwelling is connected; otherwise what needs attention (the
alarms, an open one, no connection). With the last movement seen, when the dwelling has
motion sensors, and the family page's address.

At most once per contact and day, also with several hub processes: the registry hands
each day's message to one process (`claim_summary`) before it is sent; a message whose
sending fails is not sent again (it is no alarm: the next day's comes as usual). It goes
to the contact's targets in order, like their alarms (AlarmService.send_message). A hub
that is down at the send time sends that day's messages when it is back, the same day.

`render_summary` is pure; `DailySummaries` is the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import Final, Protocol

from alerts.channels import Notification
from alerts.model import AlarmRecord, AlarmState, Contact
from alerts.present import duration
from alerts.settings import AlertSettings
from alerts.texts import language
from hub.context import Dwelling, Presence
from hub.family.schedule import next_moment, todays_moment
from hub.family.status import LOOKBACK_S, ActivityFacts, load_activity
from hub.family.texts import SUMMARY_TEXTS
from hub.family.views import when
from hub.storage.base import TimeSeriesStore

log = logging.getLogger(__name__)

DAY_S: Final = 86400.0
CHECK_EVERY_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class SummaryFacts:
    dwelling_label: str
    alarms: int  # received in the last 24 hours (for the family: no operators' ones)
    open_alarms: int
    online: bool
    offline_since: float | None
    activity: ActivityFacts


def render_summary(
    facts: SummaryFacts, contact_name: str, lang: str, tz: str, now: float, url: str
) -> tuple[str, str, str]:
    """(subject, plain-text body, one line for SMS or push) in `lang`."""
    t = SUMMARY_TEXTS[language(lang)]
    label = facts.dwelling_label
    ok = facts.alarms == 0 and facts.open_alarms == 0 and facts.online
    # What needs attention, for the subject: "1 alarm, de woning is niet verbonden".
    what: list[str] = []
    if facts.alarms:
        what.append(t["alarms_one"] if facts.alarms == 1 else t["alarms"].format(n=facts.alarms))
    elif facts.open_alarms:
        n = facts.open_alarms
        what.append(t["open_short_one"] if n == 1 else t["open_short"].format(n=n))
    if not facts.online:
        what.append(t["offline"])
    lines = [t["greeting"].format(name=contact_name), ""]
    if ok:
        lines.append(t["ok"].format(dwelling=label))
    else:
        if facts.alarms:
            lines.append(t["alarms_line"].format(what=what[0]))
        if facts.open_alarms:
            n = facts.open_alarms
            lines.append(t["open_one"] if n == 1 else t["open"].format(n=n))
    if facts.online:
        lines.append(t["online_line"])
    else:
        since = when(facts.offline_since, tz, now, lang) if facts.offline_since else "?"
        lines.append(t["offline_line"].format(when=since))
    if facts.activity.sensed:
        if facts.activity.last is not None:
            lines.append(t["activity_line"].format(when=when(facts.activity.last, tz, now, lang)))
        else:
            lines.append(t["no_activity_line"].format(window=duration(LOOKBACK_S, lang)))
    lines += ["", t["link"].format(url=url), "", t["footer"]]
    if ok:
        subject = t["subject_ok"].format(dwelling=label)
        short = t["short_ok"].format(dwelling=label)
    else:
        subject = t["subject_attention"].format(dwelling=label, what=", ".join(what))
        short = t["short_attention"].format(dwelling=label, what=", ".join(what))
    return subject, "\n".join(lines) + "\n", short


class SummaryDirectory(Protocol):
    """The registry's part (hub.registry.Registry)."""

    def dwelling(self, dwelling_id: str) -> Dwelling | None: ...
    def summaries_due(self, day: str, send_at: float) -> list[Contact]: ...
    def claim_summary(self, contact_id: str, day: str) -> bool: ...


class SummaryAlarms(Protocol):
    """The alarm service's part (alerts.service.AlarmService)."""

    settings: AlertSettings

    def dwelling_alarms(
        self, dwelling: str, since: float, limit: int = 200
    ) -> list[AlarmRecord]: ...
    async def send_message(self, note: Notification) -> str | None: ...


class DailySummaries:
    def __init__(
        self,
        registry: SummaryDirectory,
        alarms: SummaryAlarms,
        presence: Presence,
        store: TimeSeriesStore | None,
        clock: Callable[[], float],
        *,
        send_time: time,
        public_url: str,
    ) -> None:
        self.registry = registry
        self.alarms = alarms
        self.presence = presence
        self.store = store
        self.clock = clock
        self.send_time = send_time
        self.url = f"{public_url.rstrip('/')}/familie"
        self.tz = alarms.settings.timezone

    async def tick(self) -> int:
        """Send the day's due messages (once its send time has come); returns how many
        went out."""
        now = self.clock()
        day, at = todays_moment(now, self.send_time, self.tz)
        if now < at:
            return 0
        sent = 0
        due = await asyncio.to_thread(self.registry.summaries_due, day, at)
        for contact in due:
            if not await asyncio.to_thread(self.registry.claim_summary, contact.id, day):
                continue  # another hub process took it
            try:
                where = await self._send(contact, day)
            except Exception:
                log.warning(
                    "daily summary for contact %s could not be made", contact.id, exc_info=True
                )
                continue
            if where is None:
                log.warning(
                    "daily summary for contact %s not delivered (no channel took it)", contact.id
                )
            else:
                log.info("daily summary for contact %s sent via %s", contact.id, where)
                sent += 1
        return sent

    async def _send(self, contact: Contact, day: str) -> str | None:
        now = self.clock()
        dwelling = contact.dwelling
        recent = await asyncio.to_thread(self.alarms.dwelling_alarms, dwelling, now - DAY_S)
        health = next((h for h in self.presence.board() if h.dwelling == dwelling), None)
        found = self.registry.dwelling(dwelling)
        facts = SummaryFacts(
            dwelling_label=found.label if found is not None else dwelling,
            alarms=sum(1 for a in recent if a.received_at >= now - DAY_S),
            open_alarms=sum(1 for a in recent if a.state is not AlarmState.RESOLVED),
            online=health is not None and health.online,
            offline_since=health.since if health is not None and not health.online else None,
            activity=await load_activity(self.store, dwelling, now),
        )
        lang = language(contact.language, self.alarms.settings.language)
        subject, body, short = render_summary(facts, contact.name, lang, self.tz, now, self.url)
        note = Notification(
            alarm_id=f"summary:{contact.id}:{day}",
            contact=contact,
            subject=subject,
            body=body,
            ack_url=self.url,
            round=0,
            short=short,
        )
        return await self.alarms.send_message(note)

    async def run(self, stop: asyncio.Event, check_every_s: float = CHECK_EVERY_S) -> None:
        """Until `stop`: send what is due, then wait for the next send time (checking at
        least every `check_every_s`, so a preference switched on shortly before is seen)."""
        log.info("daily summaries at %s (%s)", self.send_time.strftime("%H:%M"), self.tz)
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.warning("daily summaries failed; trying again", exc_info=True)
            now = self.clock()
            wait = min(check_every_s, max(1.0, next_moment(now, self.send_time, self.tz) - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
