"""Errors of the edge agent: one base class; subclasses carry data and say if a retry helps."""

from __future__ import annotations


class EdgeError(Exception):
    """Base class for every error raised by the `edge` package."""

    retryable = False


class ConfigError(EdgeError):
    """The settings file or environment is invalid; fixing it needs a human."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


class SpoolError(EdgeError):
    """The local spool (SQLite) cannot be opened or written: the disk is full or broken."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"spool {path}: {detail}")
        self.path = path
        self.detail = detail


class DriverError(EdgeError):
    """A device driver lost its transport (radio, serial port); the supervisor restarts it."""

    retryable = True

    def __init__(self, driver: str, detail: str, *, retryable: bool = True) -> None:
        super().__init__(f"{driver}: {detail}")
        self.driver = driver
        self.detail = detail
        self.retryable = retryable


class TransportError(EdgeError):
    """The MQTT connection failed or a publish was not acknowledged in time."""

    retryable = True

    def __init__(self, broker: str, detail: str, *, retryable: bool = True) -> None:
        super().__init__(f"{broker}: {detail}")
        self.broker = broker
        self.detail = detail
        self.retryable = retryable


class ModemError(EdgeError):
    """A GSM modem refused or did not answer an AT command (`edge.drivers.gsm`).

    `code` is the modem's +CMS/+CME error number when it gave one; `retryable` says
    whether trying again later can help (no network, no answer) or not (a number the
    network refuses, a SIM that needs a PIN)."""

    def __init__(
        self, port: str, detail: str, *, code: int | None = None, retryable: bool = True
    ) -> None:
        super().__init__(f"modem {port}: {detail}")
        self.port = port
        self.detail = detail
        self.code = code
        self.retryable = retryable
