"""E-mail over SMTP through apprise. apprise is synchronous: each send runs in a thread."""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from urllib.parse import quote

import apprise

# apprise's e-mail plugin imports the stdlib `imghdr` (deprecated since 3.11, gone in
# 3.13) lazily, inside the first send's worker thread. Import it here once, with that one
# warning silenced, so the plugin finds it cached and nothing warns at alarm time.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
    import imghdr  # noqa: F401

from alerts.channels import Notification
from alerts.errors import ChannelError
from alerts.model import Contact

log = logging.getLogger(__name__)

# Anything that looks like an e-mail address in a log line.
_ADDRESS = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+")
# apprise logs every recipient ("Sent Email to anna@...") at INFO, and in its warnings.
_LIBRARY_LOGGERS = ("apprise",)


class RedactAddresses(logging.Filter):
    """Replaces e-mail addresses in a log record's message by `<address>`: mantelzorgers'
    addresses are personal data and stay out of the hub's logs, whatever the level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _ADDRESS.sub("<address>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_library_logs() -> None:
    """Attach `RedactAddresses` to the loggers of the mail libraries (once).

    A filter on the logger (not on a handler) works whatever logging the process sets
    up; apprise logs through the one logger named "apprise"."""
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactAddresses) for f in logger.filters):
            logger.addFilter(RedactAddresses())


class EmailChannel:
    """Sends a notification as a plain-text mail to the contact's address.

    `base_url` is an apprise mailto URL without a recipient, e.g.
    ``mailto://127.0.0.1:8025?from=alarm@mz.local&mode=insecure``; the contact's address
    is appended as ``&to=``. It may carry SMTP credentials: it is never logged. Neither
    is the contact's address: apprise's log lines are redacted (`redact_library_logs`).
    """

    name = "email"

    def __init__(self, base_url: str) -> None:
        if not base_url.startswith(("mailto://", "mailtos://")):
            raise ValueError("EmailChannel needs an apprise mailto:// or mailtos:// URL")
        self._base_url = base_url
        redact_library_logs()

    def accepts(self, contact: Contact) -> bool:
        return bool(contact.email)

    def _url_for(self, email: str) -> str:
        sep = "&" if "?" in self._base_url else "?"
        return f"{self._base_url}{sep}to={quote(email, safe='@')}"

    def _send_sync(self, notification: Notification) -> bool:
        email = notification.contact.email
        if not email:
            raise ChannelError(
                self.name, f"contact {notification.contact.id} has no e-mail", retryable=False
            )
        url = self._url_for(email)
        if notification.thread:
            # apprise sets its own Message-ID; "+Header=value" adds headers to the mail.
            ref = quote(notification.thread, safe="")
            url += f"&+In-Reply-To={ref}&+References={ref}"
        ap = apprise.Apprise()
        if not ap.add(url):
            # A URL apprise cannot parse will not get better by retrying.
            raise ChannelError(self.name, "apprise rejected the mailto URL", retryable=False)
        return bool(
            ap.notify(
                title=notification.subject,
                body=notification.body,
                body_format=apprise.NotifyFormat.TEXT,
            )
        )

    async def send(self, notification: Notification) -> None:
        ok = await asyncio.to_thread(self._send_sync, notification)
        if not ok:
            # apprise logs the SMTP reason itself and reports only success or failure.
            raise ChannelError(self.name, f"SMTP delivery failed for alarm {notification.alarm_id}")
