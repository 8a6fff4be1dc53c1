"""Standard Webhooks signing: the spec's published test vector, and what verify refuses."""

from __future__ import annotations

import json

import pytest

from alerts.channels import Notification
from alerts.channels.webhook import (
    headers,
    message_id,
    new_secret,
    payload,
    secret_key,
    sign,
    verify,
)
from alerts.errors import WebhookVerificationError
from alerts.model import AlarmKind, Contact, Severity

# The test vector of the Standard Webhooks reference libraries (and svix's).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def vector_headers(**over: str) -> dict[str, str]:
    h = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    h.update(over)
    return h


def test_the_published_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    h = headers(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert h["webhook-signature"] == VECTOR_SIGNATURE and h["webhook-id"] == VECTOR_ID
    assert verify(VECTOR_SECRET, h, VECTOR_BODY, now=VECTOR_TS) == {"test": 2432232314}


def test_verify_takes_headers_in_any_case_and_any_of_several_signatures() -> None:
    mixed = {k.title(): v for k, v in vector_headers().items()}
    assert verify(VECTOR_SECRET, mixed, VECTOR_BODY, now=VECTOR_TS + 299)
    rotating = vector_headers(**{"webhook-signature": f"v1,bm9wZQ== {VECTOR_SIGNATURE}"})
    assert verify(VECTOR_SECRET, rotating, VECTOR_BODY, now=VECTOR_TS - 299)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "why"),
    [
        (vector_headers(), VECTOR_BODY, VECTOR_TS + 301, "tolerance"),  # a replay
        (vector_headers(), VECTOR_BODY, VECTOR_TS - 301, "tolerance"),  # from the future
        (vector_headers(), b'{"test": 2432232315}', VECTOR_TS, "no matching signature"),
        (vector_headers(**{"webhook-id": "msg_other"}), VECTOR_BODY, VECTOR_TS, "no matching"),
        (vector_headers(**{"webhook-signature": "v1,bm9wZQ=="}), VECTOR_BODY, VECTOR_TS, "no"),
        # The right digest under another version is not a v1 signature.
        (
            vector_headers(**{"webhook-signature": "v2" + VECTOR_SIGNATURE[2:]}),
            VECTOR_BODY,
            VECTOR_TS,
            "no matching",
        ),
        (vector_headers(**{"webhook-timestamp": "soon"}), VECTOR_BODY, VECTOR_TS, "integer"),
        ({"webhook-id": VECTOR_ID}, VECTOR_BODY, VECTOR_TS, "missing header"),
    ],
)
def test_verify_refuses(hdrs: dict[str, str], body: bytes, now: float, why: str) -> None:
    with pytest.raises(WebhookVerificationError) as err:
        verify(VECTOR_SECRET, hdrs, body, now=now)
    assert why in str(err.value)


def test_verify_with_another_secret_fails() -> None:
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), vector_headers(), VECTOR_BODY, now=VECTOR_TS)


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ=", ""]
)
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        secret_key(secret)


def test_new_secrets_are_valid_and_differ() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and len(secret_key(a)) == 32


def note(**over: object) -> Notification:
    fields: dict[str, object] = {
        "alarm_id": "b" * 32,
        "contact": Contact("c-anna", "dw-002", "Anna de Vries", "anna@example.org", "en"),
        "subject": "ALARM: fall — Unit 2",
        "body": "Dear Anna de Vries, ...",
        "ack_url": "https://hub.example.org/ack/t",
        "round": 2,
        "short": "ALARM: fall — Unit 2 (urgency: critical).",
        "kind": AlarmKind.FALL,
        "severity": Severity.CRITICAL,
    }
    fields.update(over)
    return Notification(**fields)  # type: ignore[arg-type]


def test_the_payload_says_what_happened_and_names_nobody() -> None:
    body = payload(note(), now=1_795_580_962.7)
    assert json.loads(body) == {
        "type": "alarm.notification",
        "timestamp": "2026-11-25T04:29:22Z",
        "data": {
            "alarm_id": "b" * 32,
            "dwelling": "dw-002",
            "kind": "fall",
            "severity": "critical",
            "round": 2,
            "language": "en",
            "text": "ALARM: fall — Unit 2 (urgency: critical).",
            "ack_url": "https://hub.example.org/ack/t",
        },
    }
    assert b"Anna" not in body and b"anna@" not in body and b"c-anna" not in body
    # Without a short text the subject says it; without a kind, null.
    plain = json.loads(payload(note(short="", kind=None, severity=None), now=0))["data"]
    assert plain["text"] == "ALARM: fall — Unit 2" and plain["kind"] is None


def test_a_message_keeps_its_id_across_retries_and_only_then() -> None:
    assert message_id(note()) == message_id(note(body="rendered again", ack_url="x"))
    assert message_id(note()).startswith("msg_")
    others = {message_id(note(round=3)), message_id(note(alarm_id="c" * 32))}
    others.add(message_id(note(contact=Contact("c-bob", "dw-002", "Bob", None))))
    assert message_id(note()) not in others and len(others) == 3
