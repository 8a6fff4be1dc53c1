"""Channel targets: what is accepted, what kind each is, and what logs may show of one."""

from __future__ import annotations

import pytest

from alerts.channels.targets import kind, mail_url, redact, validate
from alerts.model import Contact

TWILIO = (
    "twilio://AC0123456789abcdef0123456789abcdef:authtoken0123456789abcdef01234567"
    "@+31612345678/+31687654321"
)


@pytest.mark.parametrize(
    "target",
    [
        "mailto:anna@example.org",
        "mailto://127.0.0.1:2525?from=alarm@mz.local&to=anna@example.org&mode=insecure",
        "mailtos://anna:geheim@smtp.example.org:465?to=anna@example.org",
        "ntfy://127.0.0.1:8080/mz-anna",
        "ntfys://ntfy.sh/mz-anna-7f3k2",
        "json://127.0.0.1:9000/alarms",
        "jsons://hooks.example.org/alarms",
        TWILIO,
        "msgbird://abcdefghijklmnopqrstuvwxy/+31612345678/+31687654321",
        "webhook+https://hooks.example.org/mz/alarms",
        "webhook+http://127.0.0.1:8000/hook",
        "webhook+http://localhost/hook",
        "webhook+http://[::1]:8000/hook",
    ],
)
def test_valid_targets_are_kept_as_given(target: str) -> None:
    assert validate(target) == target
    assert validate(f"  {target}\n") == target  # surrounding space is no part of it


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("", "empty target"),
        ("anna@example.org", "starts with a scheme"),
        ("sms:+31612345678", "unknown scheme 'sms'"),
        ("foo://example.org/x", "unknown scheme 'foo'"),
        ("twilio://bad", "apprise cannot parse this twilio:// URL"),
        ("json://", "apprise cannot parse this json:// URL"),
        ("mailto:anna", "one bare e-mail address"),
        ("mailto:Anna <anna@example.org>", "no spaces"),
        ("mailto:anna@example.org,bob@example.org", "one bare e-mail address"),
        ("webhook+http://example.org/hook", "loopback only"),
        ("webhook+https:///hook", "no host"),
        ("webhook+https://user:pw@example.org/hook", "no credentials"),
        ("webhook+https://example.org:99999/hook", "invalid port"),
        ("ntfy://127.0.0.1/a\nb", "no spaces or control characters"),
        ("json://" + "a" * 3000, "longer than"),
    ],
)
def test_invalid_targets_say_what_is_wrong(target: str, why: str) -> None:
    with pytest.raises(ValueError) as err:
        validate(target)
    assert why in str(err.value)


def test_an_error_shows_the_target_redacted() -> None:
    with pytest.raises(ValueError) as err:
        validate("twilio://s3cretTOKEN0123456789")
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("mailto:anna@example.org", "email"),
        ("mailtos://u:p@smtp.example.org", "email"),
        ("ntfy://127.0.0.1/t", "push"),
        ("NTFYS://ntfy.sh/t", "push"),
        (TWILIO, "sms"),
        ("msgbird://k/+31612345678", "sms"),
        ("clickatell://k/+31612345678", "sms"),
        ("sinch://a:b@+31612345678", "sms"),
        ("bulksms://u:p@+31612345678", "sms"),
        ("d7sms://token@+31612345678", "sms"),
        ("webhook+https://example.org/h", "webhook"),
        ("webhook+http://127.0.0.1/h", "webhook"),
        ("json://127.0.0.1/a", "json"),
        ("jsons://example.org/a", "json"),
        ("tgram://123:abc/456", "tgram"),
        ("garbage", "unknown"),
    ],
)
def test_kind(target: str, expected: str) -> None:
    assert kind(target) == expected


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("mailto:anna@example.org", "mailto:a***@example.org"),
        ("sms:+31612345678", "sms:+316****5678"),
        ("mailtos://anna:geheim@example.org", "mailtos://a***:***@example.org"),
        (
            "mailto://127.0.0.1:2525?from=alarm@mz.local&to=anna@example.org&mode=insecure",
            "mailto://127.0.0.1:2525?from=a***@mz.local&to=a***@example.org&mode=insecure",
        ),
        (
            "mailto://smtp.example.org?to=Anna%20de%20Vries%20%3Canna%40example.org%3E",
            "mailto://smtp.example.org?to=a***@example.org",
        ),
        (TWILIO, "twilio://***:***@+316****5678/+316****4321"),
        ("ntfy://127.0.0.1:8080/mz-anna", "ntfy://127.0.0.1:8080/***"),
        ("ntfys://tk_0123456789abcdef@ntfy.sh/alarm", "ntfys://***@ntfy.sh/***"),
        ("ntfys://mz-anna-7f3k2", "ntfys://***"),
        ("json://127.0.0.1:9/alarms/in?token=abc", "json://127.0.0.1:9/alarms/in?token=***"),
        (
            "webhook+https://hooks.example.org/mz/alarms",
            "webhook+https://hooks.example.org/mz/alarms",
        ),
        (
            "webhook+https://hooks.example.org/T01ABC23/9f8e7d6c5b4a",
            "webhook+https://hooks.example.org/***/***",
        ),
        ("tgram://123456789:AAbbCCddEEff/987654321", "tgram://***/***21"),
        ("garbage with Anna de Vries", "***"),
        ("", ""),
    ],
)
def test_redact_hides_secrets_and_masks_addresses(target: str, shown: str) -> None:
    assert redact(target) == shown


def test_redact_never_raises() -> None:
    for weird in ("mailto:", "ntfy://[::1", "x://a:b:c@d:e:f/%zz?=&&=", "\x00\n", "://"):
        assert isinstance(redact(weird), str)


def test_a_plain_address_is_mailed_through_the_hubs_smtp_url() -> None:
    smtp = "mailto://127.0.0.1:2525?from=alarm@mz.local&mode=insecure"
    assert mail_url(smtp, "mailto:anna@example.org") == smtp + "&to=anna@example.org"
    assert (
        mail_url("mailto://smtp.example.org", "mailto:anna+zorg@example.org", "<t.1@hub>")
        == "mailto://smtp.example.org?to=anna%2Bzorg@example.org"
        "&+In-Reply-To=%3Ct.1%40hub%3E&+References=%3Ct.1%40hub%3E"
    )
    own = "mailtos://u:p@smtp.example.org?to=bob@example.org"
    assert mail_url(smtp, own) == own
    with pytest.raises(ValueError):
        mail_url(smtp, "ntfy://127.0.0.1/t")


def test_a_contacts_targets_are_its_channels_else_its_address() -> None:
    anna = Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org")
    assert anna.targets == ("mailto:anna@example.org",)
    pushed = Contact("c-bob", "dw-001", "Bob", "bob@example.org", channels=("ntfys://ntfy.sh/x",))
    assert pushed.targets == ("ntfys://ntfy.sh/x",)
    assert Contact("c-joe", "dw-001", "Joe", None).targets == ()
