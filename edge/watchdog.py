"""systemd service notifications (sd_notify) and the watchdog ping loop.

The protocol (sd_notify(3)): one datagram of newline-separated `VAR=value` assignments to
the AF_UNIX socket named by `$NOTIFY_SOCKET`, a file-system path or `@name` in the abstract
namespace. With `WatchdogSec=` in the unit, systemd sets `$WATCHDOG_USEC` (and
`$WATCHDOG_PID`, the process it is meant for) and kills and restarts the service when no
`WATCHDOG=1` arrives within that time; we ping every half of it, as sd_watchdog_enabled(3)
recommends.

The pings come from the agent's event loop, never from a thread: a loop wedged by a
blocking call then sends none, and systemd restarts the agent. A thread would go on
pinging for a loop that no longer turns.

No library: `sdnotify` (last release 2017) does not read `$WATCHDOG_USEC` and
`systemd-python` needs libsystemd's headers and a compiler on the Pi; the protocol is one
`sendto`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to systemd; never raises (a lost notification is logged)."""

    def __init__(self, address: str) -> None:
        if not address or address[0] not in "/@":
            raise ValueError(f"NOTIFY_SOCKET {address!r} is neither a path nor an @abstract name")
        self.address = address
        # "@name" is the abstract namespace: a leading NUL byte on the wire.
        self._target = "\0" + address[1:] if address[0] == "@" else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)  # never stall the event loop on a full socket

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Notifier | None:
        """A notifier for `$NOTIFY_SOCKET`, or None when not run by systemd's Type=notify."""
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        try:
            return cls(address)
        except ValueError as exc:  # vsock: addresses (systemd 254+) and garbage
            log.warning("no service notifications: %s", exc)
            return None

    def notify(self, *assignments: str) -> bool:
        """Send `READY=1`, `WATCHDOG=1`, ... as one datagram; False if it could not be sent."""
        data = "\n".join(assignments).encode()
        try:
            self._sock.sendto(data, self._target)
        except OSError as exc:
            log.warning("service notification %s to %s failed: %s", assignments, self.address, exc)
            return False
        return True

    def close(self) -> None:
        self._sock.close()


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between watchdog pings (half of `$WATCHDOG_USEC`), or None without a watchdog.

    Like sd_watchdog_enabled(3): a `$WATCHDOG_PID` naming another process means the watchdog
    is not ours (a child inherited the environment)."""
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: no watchdog pings", raw)
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


async def ping_while_healthy(
    notifier: Notifier, interval_s: float, problems: Callable[[], Sequence[str]]
) -> None:
    """Send `WATCHDOG=1` every `interval_s` while `problems()` is empty; until cancelled.

    An unhealthy agent sends nothing, so systemd restarts it after `WatchdogSec`; the
    reason is logged once, when it starts (the journal shows why the restart came)."""
    reported: tuple[str, ...] = ()
    while True:
        found = tuple(problems())
        if not found:
            if reported:
                log.warning("healthy again: watchdog pings resumed")
            notifier.notify("WATCHDOG=1")
        elif found != reported:
            log.warning(
                "unhealthy (%s): no more watchdog pings, systemd will restart the agent",
                "; ".join(found),
            )
        reported = found
        await asyncio.sleep(interval_s)
