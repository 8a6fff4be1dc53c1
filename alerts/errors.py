"""Errors raised by the `alerts` package: one base class, subclasses that carry data."""

from __future__ import annotations


class AlertsError(Exception):
    """Base class for every error raised by `alerts`."""

    retryable = False


class UnknownAlarmError(AlertsError):
    """No alarm with this id is known to the hub."""

    def __init__(self, alarm_id: str) -> None:
        super().__init__(f"unknown alarm {alarm_id!r}")
        self.alarm_id = alarm_id


class InvalidTransitionError(AlertsError):
    """The requested lifecycle step is not allowed from the alarm's current state."""

    def __init__(self, alarm_id: str, state: str, action: str) -> None:
        super().__init__(f"alarm {alarm_id!r}: cannot {action} while {state}")
        self.alarm_id = alarm_id
        self.state = state
        self.action = action


class ClaimedError(InvalidTransitionError):
    """Another operator holds the alarm's claim: acting on it needs taking it over first
    (`AlarmService.claim(..., take_over=True)`). Carries who holds it and since when."""

    def __init__(self, alarm_id: str, action: str, holder: str, since: float) -> None:
        AlertsError.__init__(
            self, f"alarm {alarm_id!r}: cannot {action}: claimed by {holder} since {since:.0f}"
        )
        self.alarm_id = alarm_id
        self.state = "claimed"
        self.action = action
        self.holder = holder
        self.since = since


class HandlingError(AlertsError, ValueError):
    """An operator's note or handling action that cannot be recorded as asked: an unknown
    action, a contact that is not the alarm's dwelling's, an empty or too long note."""


class TokenError(AlertsError):
    """An acknowledgement link token is not acceptable."""

    reason = "invalid"


class TokenInvalidError(TokenError):
    """Malformed, tampered with, or signed with another key."""

    reason = "invalid"


class TokenExpiredError(TokenError):
    """Well signed, but past its expiry time."""

    reason = "expired"

    def __init__(self, alarm_id: str, expired_at: float) -> None:
        super().__init__(f"link for alarm {alarm_id!r} expired at {expired_at:.0f}")
        self.alarm_id = alarm_id
        self.expired_at = expired_at


class TokenWrongAlarmError(TokenError):
    """Well signed, but for another alarm than the one asked about."""

    reason = "wrong_alarm"


class TokenRevokedError(TokenError):
    """Well signed, but its contact is gone, was re-added, or is no longer the dwelling's."""

    reason = "revoked"


class ChannelError(AlertsError):
    """A notification could not be handed to its channel (SMTP server down, refused...)."""

    def __init__(self, channel: str, detail: str, *, retryable: bool = True) -> None:
        super().__init__(f"{channel}: {detail}")
        self.channel = channel
        self.detail = detail
        self.retryable = retryable


class WebhookVerificationError(AlertsError, ValueError):
    """A webhook request whose signature, timestamp or headers do not check out."""
