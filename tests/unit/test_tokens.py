"""Acknowledgement-link tokens: valid, tampered, expired, wrong alarm, wrong key."""

from __future__ import annotations

import base64
import json

import pytest

from alerts.errors import TokenExpiredError, TokenInvalidError, TokenWrongAlarmError
from alerts.tokens import AckTokens

KEY = "unit-test-secret-0123456789"
NOW = 1_764_000_000.0


def test_valid_token_carries_alarm_contact_and_expiry() -> None:
    t = AckTokens(KEY, 3600).issue("alarm-0001", "c-anna", NOW)
    claim = AckTokens(KEY, 3600).verify(t, NOW + 10, "alarm-0001")
    assert (claim.alarm_id, claim.contact_id, claim.expires_at) == (
        "alarm-0001",
        "c-anna",
        NOW + 3600,
    )
    assert all(ch.isalnum() or ch in "-_." for ch in t)  # safe in a URL path


def test_expired() -> None:
    t = AckTokens(KEY, 3600).issue("alarm-0001", "c-anna", NOW)
    AckTokens(KEY, 3600).verify(t, NOW + 3600)  # the last valid second
    with pytest.raises(TokenExpiredError):
        AckTokens(KEY, 3600).verify(t, NOW + 3601)


def test_wrong_alarm() -> None:
    t = AckTokens(KEY, 3600).issue("alarm-0001", "c-anna", NOW)
    with pytest.raises(TokenWrongAlarmError):
        AckTokens(KEY, 3600).verify(t, NOW, "alarm-0002")


def test_tampered_payload_is_refused() -> None:
    tokens = AckTokens(KEY, 3600)
    body, sig = tokens.issue("alarm-0001", "c-anna", NOW).split(".")
    forged = json.dumps({"a": "alarm-0002", "c": "c-anna", "e": NOW + 10**9}).encode()
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(TokenInvalidError):
        tokens.verify(f"{forged_body}.{sig}", NOW)
    with pytest.raises(TokenInvalidError):
        tokens.verify(f"{body}.{sig[:-2]}xx", NOW)


@pytest.mark.parametrize("junk", ["", ".", "abc", "a.b.c", "é.é", "x" * 2000])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(TokenInvalidError):
        AckTokens(KEY, 3600).verify(junk, NOW)


@pytest.mark.parametrize("sig", ["é", "\ufffd" * 43, "AAAA\x00", "ü" * 43])
def test_a_non_ascii_signature_is_refused_not_an_error(sig: str) -> None:
    # Found by the probe: a valid body with a non-ASCII signature made
    # hmac.compare_digest raise TypeError (a 500 with a traceback).
    body = AckTokens(KEY, 3600).issue("alarm-0001", "c-anna", NOW).split(".")[0]
    with pytest.raises(TokenInvalidError):
        AckTokens(KEY, 3600).verify(f"{body}.{sig}", NOW)


def test_the_contacts_link_key_is_carried_and_signed() -> None:
    tokens = AckTokens(KEY, 3600)
    t = tokens.issue("alarm-0001", "c-anna", NOW, "k-1111")
    assert tokens.verify(t, NOW).link_key == "k-1111"
    sig = t.split(".")[1]
    forged = json.dumps({"a": "alarm-0001", "c": "c-anna", "k": "k-2222", "e": NOW + 10}).encode()
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(TokenInvalidError):
        tokens.verify(f"{forged_body}.{sig}", NOW)


def test_other_key_is_refused() -> None:
    t = AckTokens(KEY, 3600).issue("alarm-0001", "c-anna", NOW)
    with pytest.raises(TokenInvalidError):
        AckTokens("another-secret-0123456789", 3600).verify(t, NOW)


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16"):
        AckTokens("short", 60)
