"""E-mail to a contact's address through the hub's SMTP server (apprise), and the log
redaction every apprise channel relies on.

`EmailChannel` is the per-address channel the alarm service has used so far; it now
sends through `ChannelRouter` (alerts.channels.router), which takes any target.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from alerts.channels import Notification
from alerts.channels.targets import PLAIN_MAIL  # also imports `imghdr` quietly: see there
from alerts.errors import ChannelError
from alerts.model import Contact

if TYPE_CHECKING:
    from alerts.channels.router import ChannelRouter

log = logging.getLogger(__name__)

# Anything that looks like an e-mail address in a log line.
_ADDRESS = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+")
# International phone numbers ("+31612345678", "+31 6 1234 5678") and Dutch mobile ones.
_PHONE = re.compile(r"(?<![\w+])\+\d(?:[ -]?\d){7,14}(?!\d)|(?<!\d)06\d{8}(?!\d)")
# apprise logs every recipient ("Sent Email to anna@...") at INFO, and in its warnings.
_LIBRARY_LOGGERS = ("apprise",)


class RedactAddresses(logging.Filter):
    """Replaces e-mail addresses and phone numbers in a log record's message by
    `<address>` and `<phone>`: mantelzorgers' addresses and numbers are personal data and
    stay out of the hub's logs, whatever the level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _PHONE.sub("<phone>", _ADDRESS.sub("<address>", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_library_logs() -> None:
    """Attach `RedactAddresses` to the loggers of the delivery libraries (once).

    A filter on the logger (not on a handler) works whatever logging the process sets
    up; apprise logs through the one logger named "apprise"."""
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactAddresses) for f in logger.filters):
            logger.addFilter(RedactAddresses())


class EmailChannel:
    """Sends a notification as a plain-text mail to the contact's `email`.

    `base_url` is an apprise mailto URL without a recipient, e.g.
    ``mailto://127.0.0.1:8025?from=alarm@mz.local&mode=insecure``; the contact's address
    is added as ``to=`` (`targets.mail_url`). It may carry SMTP credentials: it is never
    logged. Neither is the contact's address: apprise's log lines are redacted.
    """

    name = "email"

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        # Imported here: the router builds on this module's log redaction.
        from alerts.channels.router import ChannelRouter

        if not base_url.startswith(("mailto://", "mailtos://")):
            raise ValueError("EmailChannel needs an apprise mailto:// or mailtos:// URL")
        self._router: ChannelRouter = ChannelRouter(base_url, None, timeout_s=timeout_s)

    def accepts(self, contact: Contact) -> bool:
        return bool(contact.email)

    async def send(self, notification: Notification) -> None:
        email = notification.contact.email
        if not email:
            raise ChannelError(
                self.name, f"contact {notification.contact.id} has no e-mail", retryable=False
            )
        await self._router.send(PLAIN_MAIL + email, notification)
