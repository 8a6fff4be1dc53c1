"""Errors raised by `alerts.dc09`: one base class, subclasses that say whether retrying helps."""

from __future__ import annotations

from typing import Literal

FrameProblem = Literal["format", "crc", "length", "key", "unsupported"]


class Dc09Error(Exception):
    """Base class for every error raised by `alerts.dc09`."""

    retryable: bool = False


class Dc09FrameError(Dc09Error):
    """A frame that is not valid DC-09: framing, CRC, length, content, or undecryptable.

    `problem` says which, so a receiver can NAK a damaged frame ("crc", "length",
    "format") and DUH one it will never understand ("key", "unsupported").
    """

    retryable = False

    def __init__(self, message: str, *, problem: FrameProblem = "format") -> None:
        super().__init__(message)
        self.problem: FrameProblem = problem


class Dc09DeliveryError(Dc09Error):
    """No receiver acknowledged a message.

    retryable=True: timeouts, refused connections, NAKs, every receiver down: sending the
    same event later can succeed. retryable=False: a receiver answered DUH, it will never
    take this event.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
