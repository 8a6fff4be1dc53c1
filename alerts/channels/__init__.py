"""Delivery channels: each moves one rendered notification to one contact (I/O only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.model import Contact


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


class NotificationChannel(Protocol):
    """What the AlarmService needs from a channel.

    `name` keys the outbox rows (one row per alarm, contact, round and channel), so it
    must be stable across restarts. `send` raises `alerts.errors.ChannelError`.
    """

    @property
    def name(self) -> str: ...

    def accepts(self, contact: Contact) -> bool: ...

    async def send(self, notification: Notification) -> None: ...
