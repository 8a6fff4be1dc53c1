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
