"""Signed, expiring acknowledgement-link tokens: pure HMAC, time as an argument.

A token binds an alarm id, a contact id and that contact's link key to an expiry time:

    base64url(json {"a": alarm_id, "c": contact_id, "k": link_key, "e": expires_at})
    "." base64url(hmac)

A folded mail's token also names the mail (`"b"`: its outbox batch), so its link
acknowledges every alarm that mail carried to the contact.

HMAC-SHA256 with a key derived from the hub's secret for this purpose only, so a
session cookie signature can never pass as a link token or the other way round.
The link key is not a secret (the signature is the authority): it names the contact as
it was when the link was made, so the alarm service can refuse a link whose contact has
since been removed or removed and re-added (a new key). Tokens made before link keys
(v1) are refused: their purpose string differs, so their signature does not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from alerts.errors import TokenExpiredError, TokenInvalidError, TokenWrongAlarmError

_PURPOSE = b"mz-ack-link-v2"
_MAX_TOKEN_LEN = 1024


@dataclass(frozen=True, slots=True)
class AckClaim:
    alarm_id: str
    contact_id: str
    expires_at: float
    link_key: str = ""  # the contact's link key when the link was made
    batch: int | None = None  # a folded mail: the outbox batch it carried


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckTokens:
    def __init__(self, secret_key: str, ttl_s: float) -> None:
        if len(secret_key) < 16:
            raise ValueError("secret_key must have at least 16 characters")
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(
        self,
        alarm_id: str,
        contact_id: str,
        now: float,
        link_key: str = "",
        *,
        batch: int | None = None,
    ) -> str:
        payload: dict[str, str | int] = {
            "a": alarm_id,
            "c": contact_id,
            "k": link_key,
            "e": round(now + self.ttl_s),
        }
        if batch is not None:
            payload["b"] = batch
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, now: float, alarm_id: str | None = None) -> AckClaim:
        """The claim in `token`; raises a TokenError subclass when it must not be honoured.

        Any string is safe to pass (from a URL: non-ASCII, huge, no dot): junk raises
        TokenInvalidError, never anything else.
        """
        if len(token) > _MAX_TOKEN_LEN or not token.isascii():
            # Also keeps hmac.compare_digest from a TypeError on a non-ASCII str.
            raise TokenInvalidError("malformed token")
        body, sep, sig = token.partition(".")
        if not sep:
            raise TokenInvalidError("malformed token")
        if not hmac.compare_digest(self._sign(body).encode("ascii"), sig.encode("ascii")):
            raise TokenInvalidError("bad signature")
        try:
            payload = json.loads(_unb64(body))
            batch = payload.get("b") if isinstance(payload, dict) else None
            claim = AckClaim(
                str(payload["a"]),
                str(payload["c"]),
                float(payload["e"]),
                str(payload["k"]),
                None if batch is None else int(batch),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            # Signed by us yet unreadable: only a bug gets here, but refuse it all the same.
            raise TokenInvalidError("unreadable payload") from exc
        if now > claim.expires_at:
            raise TokenExpiredError(claim.alarm_id, claim.expires_at)
        if alarm_id is not None and claim.alarm_id != alarm_id:
            raise TokenWrongAlarmError(f"token is for alarm {claim.alarm_id!r}, not {alarm_id!r}")
        return claim
