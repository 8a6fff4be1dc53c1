"""Signed JSON webhooks per the Standard Webhooks spec (https://www.standardwebhooks.com/).

Every request carries three headers:

- ``webhook-id``: the message's id, the same on every retry of it (receivers deduplicate
  on it);
- ``webhook-timestamp``: UNIX seconds when this attempt was signed;
- ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``,
  keyed with the secret's bytes (a secret is ``whsec_`` + base64 of 24 to 64 bytes).

The body is JSON: ``{"type": "alarm.notification", "timestamp": ..., "data": {...}}`` with
the alarm id, the dwelling's pseudonymous id, kind, severity, the short text in the
contact's language and the acknowledgement link. Never a resident's name or address.

`sign`, `payload` and `verify` are pure (time is an argument); `post` does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from alerts.channels import Notification
from alerts.errors import ChannelError, WebhookVerificationError
from alerts.model import ALL_CLEAR_ROUND

log = logging.getLogger(__name__)

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 -- the spec's prefix, not a secret
EVENT_TYPE: Final = "alarm.notification"
# An all-clear (alerts.all_clear): the alarm is over; `round` is ALL_CLEAR_ROUND, no link.
ALL_CLEAR_TYPE: Final = "alarm.all_clear"
TOLERANCE_S: Final = 300.0  # the spec's suggested replay window, either side of now
# The spec asks for secrets of 24 to 64 bytes (before base64).
_SECRET_MIN, _SECRET_MAX = 24, 64
CHANNEL: Final = "webhook"


def new_secret() -> str:
    """A fresh random secret in the spec's form ("whsec_" + base64 of 32 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_<base64>" secret; ValueError for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' + base64") from exc
    if not _SECRET_MIN <= len(key) <= _SECRET_MAX:
        raise ValueError(f"a webhook secret holds {_SECRET_MIN} to {_SECRET_MAX} bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64(HMAC-SHA256(id.timestamp.body))."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one signed request."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def message_id(notification: Notification) -> str:
    """The id of this notification's message: the same for every attempt to deliver it
    (one alarm, one contact, one round), so a receiver sees a retry as a duplicate."""
    n = notification
    key = "\x00".join((n.alarm_id, n.contact.id, str(n.round))).encode()
    return "msg_" + hashlib.sha256(key).hexdigest()[:32]


def payload(notification: Notification, *, now: float) -> bytes:
    """The JSON body for `notification`, sent at `now` (UNIX seconds)."""
    n = notification
    data: dict[str, Any] = {
        "alarm_id": n.alarm_id,
        "dwelling": n.contact.dwelling,  # the registry's id, e.g. "dw-001": no address
        "kind": n.kind.value if n.kind is not None else None,
        "severity": n.severity.value if n.severity is not None else None,
        "round": n.round,
        "language": n.contact.language,
        "text": n.short or n.subject,
        "ack_url": n.ack_url,
    }
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    kind = ALL_CLEAR_TYPE if n.round == ALL_CLEAR_ROUND else EVENT_TYPE
    body = {"type": kind, "timestamp": stamp, "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> Any:
    """Check a received webhook (for receivers and tests) and return its JSON body.

    Raises `WebhookVerificationError`: a header missing, a timestamp more than
    `tolerance_s` from `now` (a replay), or no ``v1`` signature that matches."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, signatures = (
            lower[h] for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        )
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance")
    try:
        expected = sign(secret, msg_id, timestamp, body).encode()
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from exc
    # Several signatures, space separated, while a secret is being rotated.
    if not any(hmac.compare_digest(expected, s.encode()) for s in signatures.split()):
        raise WebhookVerificationError("no matching signature")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc


def http_url(target: str) -> str:
    """ "webhook+https://host/path" -> "https://host/path"."""
    if not target.startswith(("webhook+https://", "webhook+http://")):
        raise ValueError("not a webhook+https:// target")
    return target[len("webhook+") :]


# 408 Request Timeout, 425 Too Early, 429 Too Many Requests: worth another go later;
# so is any 5xx. Other answers (400, 401, 404, 410...) will not change by retrying.
_RETRY_STATUS: Final = frozenset({408, 425, 429})


async def post(
    target: str,
    secret: str,
    notification: Notification,
    *,
    now: float,
    timeout_s: float,
    shown: str = "webhook",
) -> None:
    """POST `notification` to a webhook+https:// `target`, signed with `secret` at `now`.

    Raises `ChannelError` (retryable for a connection failure, a timeout, 408/425/429 and
    5xx answers). `shown` names the target in errors (give it `targets.redact(target)`)."""
    body = payload(notification, now=now)
    msg_id = message_id(notification)
    sent_headers = headers(secret, msg_id, int(now), body)
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            response = await client.post(http_url(target), content=body, headers=sent_headers)
    except httpx.TimeoutException as exc:
        raise ChannelError(CHANNEL, f"{shown}: no answer within {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise ChannelError(CHANNEL, f"{shown}: {type(exc).__name__}") from exc
    status = response.status_code
    if 200 <= status < 300:
        log.debug("webhook %s delivered for alarm %s", msg_id, notification.alarm_id)
        return
    retryable = status >= 500 or status in _RETRY_STATUS
    raise ChannelError(CHANNEL, f"{shown}: HTTP {status}", retryable=retryable)
