"""Sends one notification to one target of a contact, whatever its kind.

- e-mail: a plain "mailto:" + address through the hub's SMTP server (its apprise URL,
  hub-wide), or a contact's own apprise mailto:// URL; the full mail body, threaded with
  In-Reply-To/References when the notification names a thread;
- the signed webhook (webhook+https://): alerts.channels.webhook;
- push (ntfy), SMS gateways, json:// and every other apprise URL: the notification's
  one-line `short` text and its acknowledgement link, through apprise's async notify
  (a tap on an ntfy push opens the link).

Every failure is a `ChannelError`; its `retryable` says whether the same target may work
later (the alarm service then falls back to the contact's next target either way).
Targets are never logged or put in errors as they are: `targets.redact` shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import apprise
from apprise.result import AppriseResultStatus

from alerts.channels import Notification, webhook
from alerts.channels.email import redact_library_logs
from alerts.channels.targets import (
    PUSH_SCHEMES,
    address,
    kind,
    mail_url,
    redact,
    scheme,
    validate,
    with_query,
)
from alerts.errors import ChannelError

log = logging.getLogger(__name__)


class ChannelRouter:
    """Delivers to any target a contact has (`Contact.targets`).

    `email`: the hub's SMTP server as an apprise mailto URL without a recipient (the
    ``[mail] url`` setting; it may hold a password and is never logged), or None when the
    hub sends no mail of its own. `webhook_secret`: "whsec_<base64>" signing every
    webhook, or None (webhook targets then fail). `timeout_s` bounds one send; `clock`
    stamps webhooks (UNIX seconds).
    """

    def __init__(
        self,
        email: str | None,
        webhook_secret: str | None,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if email is not None and not email.startswith(("mailto://", "mailtos://")):
            raise ValueError("the hub's SMTP settings must be an apprise mailto:// URL")
        if webhook_secret is not None:
            webhook.secret_key(webhook_secret)  # refuse a malformed secret at start
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        self._email = email
        self._webhook_secret = webhook_secret
        self._timeout_s = timeout_s
        self._clock = clock
        self._asset = apprise.AppriseAsset(secure_logging=True)
        redact_library_logs()

    async def send(self, target: str, notification: Notification) -> None:
        """Deliver `notification` to `target`; raises `ChannelError`."""
        channel, shown = kind(target), redact(target)
        try:
            target = validate(target)
        except ValueError as exc:
            raise ChannelError(channel, f"{shown}: {exc}", retryable=False) from exc
        if channel == "webhook":
            if self._webhook_secret is None:
                raise ChannelError(channel, f"{shown}: no webhook secret set", retryable=False)
            await webhook.post(
                target,
                self._webhook_secret,
                notification,
                now=self._clock(),
                timeout_s=self._timeout_s,
                shown=shown,
            )
        elif channel == "email":
            if address(target) is not None and self._email is None:
                raise ChannelError(channel, f"{shown}: no SMTP server set", retryable=False)
            url = mail_url(self._email or "", target, notification.thread)
            await self._notify(channel, shown, url, notification.subject, notification.body)
        else:
            text = notification.short or notification.subject
            link = notification.ack_url  # "" for an all-clear: nothing to take on
            if channel == "sms":
                # One text message: the short line and the link, no title of its own.
                title, body = "", f"{text} {link}".rstrip()
            else:
                title, body = notification.subject, f"{text}\n{link}".rstrip()
            url = target
            if link and scheme(target) in PUSH_SCHEMES and "click=" not in target:
                url = with_query(target, click=notification.ack_url)
            await self._notify(channel, shown, url, title, body)
        log.debug("alarm %s sent to %s", notification.alarm_id, shown)

    async def _notify(self, channel: str, shown: str, url: str, title: str, body: str) -> None:
        ap = apprise.Apprise(asset=self._asset)
        if not ap.add(url):
            # A URL apprise cannot load will not get better by retrying.
            raise ChannelError(channel, f"{shown}: apprise rejected the URL", retryable=False)
        result = await ap.async_notify(
            body=body,
            title=title,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self._timeout_s,
        )
        if result:
            return
        if result.status == AppriseResultStatus.TIMEOUT:
            raise ChannelError(channel, f"{shown}: no answer within {self._timeout_s:g} s")
        # apprise logs the reason itself (redacted) and reports only the outcome.
        raise ChannelError(channel, f"{shown}: delivery failed")
