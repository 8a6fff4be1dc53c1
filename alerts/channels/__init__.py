"""Delivery channels: each moves one rendered notification to one target (I/O only).

`ChannelRouter` (alerts.channels.router) sends to any target a contact has (an apprise
URL, "mailto:" + an address, a signed webhook); `alerts.channels.targets` checks, sorts
and redacts targets without sending anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.model import AlarmKind, Contact, Severity


@dataclass(frozen=True, slots=True)
class Notification:
    """One rendered message for one contact; the channel only transports it."""

    alarm_id: str
    contact: Contact
    subject: str
    body: str
    ack_url: str
    round: int  # 0 for the first notification, 1.. for re-notifications
    # A stable Message-ID-style reference ("<...@host>") shared by every mail about one
    # dwelling's alarm storm to this contact: mail clients thread on it. None: no thread.
    thread: str | None = None
    # One line of at most 160 characters (one SMS) in the contact's language, Dutch by
    # default, for SMS and push: alerts.present.render_short. "": the subject is used.
    short: str = ""
    # What the alarm is, for machine readers (the signed webhook). None: not known.
    kind: AlarmKind | None = None
    severity: Severity | None = None


class NotificationChannel(Protocol):
    """What the AlarmService needs from a channel bound to one kind of address.

    `name` keys the outbox rows (one row per alarm, contact, round and channel), so it
    must be stable across restarts. `send` raises `alerts.errors.ChannelError`.
    """

    @property
    def name(self) -> str: ...

    def accepts(self, contact: Contact) -> bool: ...

    async def send(self, notification: Notification) -> None: ...


class TargetSender(Protocol):
    """What the AlarmService needs to reach one of a contact's targets (`Contact.targets`).

    `send` raises `alerts.errors.ChannelError`; its `retryable` says whether the same
    target may work later, and the service falls back to the contact's next target.
    """

    async def send(self, target: str, notification: Notification) -> None: ...
