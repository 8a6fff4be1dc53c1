"""Errors raised by the hub. Supervisors look at `retryable` to decide whether to retry."""

from __future__ import annotations


class HubError(Exception):
    """Base class for every error raised by the `hub` package."""

    retryable = False


class ConfigError(HubError):
    """The hub's configuration is missing, malformed or unsafe (e.g. a placeholder secret)."""


class StorageError(HubError):
    """A store (SQLite, later InfluxDB) could not complete a read or write.

    Retryable: a locked or briefly unavailable store usually recovers, and the broker
    redelivers the unacknowledged message after a reconnect.
    """

    retryable = True


class RegistryError(HubError):
    """A registry operation cannot be done as asked."""


class NotFound(RegistryError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} not found: {key}")
        self.what = what
        self.key = key


class Conflict(RegistryError):
    """The operation would break an invariant (duplicate id, dwelling with open alarms)."""


class InvalidValue(RegistryError):
    """A value the registry will not store: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class Forbidden(RegistryError):
    """The actor's role may not do this (e.g. an operator editing a resident card)."""

    def __init__(self, role: str, action: str) -> None:
        super().__init__(f"role {role!r} may not {action}")
        self.role = role
        self.action = action


class AuditFailed(StorageError):
    """The audit row could not be written, so what it was to record did not happen: no
    secret is returned, no change is stored. Retryable, like the store behind it."""


class BrokerUnavailable(HubError):
    """The MQTT broker refused or dropped the connection; reconnecting may help."""

    retryable = True


class TooSoon(HubError):
    """Asked again too soon (a second test alarm to one dwelling within minutes): the
    dwelling's alarm budget is for its resident's alarms. `retry_after_s` says when."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
