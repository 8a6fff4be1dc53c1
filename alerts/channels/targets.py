"""A contact's channel targets: checked, sorted by kind and redacted. Pure: nothing is sent.

A target is one of:

- ``mailto:anna@example.org``: a plain e-mail address (what a contact's `email` becomes),
  sent through the hub's own SMTP server (`mail_url` builds the apprise URL from the
  hub-wide SMTP settings);
- ``webhook+https://host/path`` (``webhook+http://`` only to a loopback host): our JSON
  webhook, signed per the Standard Webhooks spec (alerts.channels.webhook);
- any apprise URL: ``mailto://``/``mailtos://`` with an SMTP server of its own,
  ``ntfy://``/``ntfys://`` push, an SMS gateway (``twilio://``, ``msgbird://``...),
  ``json://``/``jsons://`` and every other service apprise knows.

Targets carry secrets (SMTP passwords, gateway tokens) and personal data (addresses,
phone numbers): logs and timelines show `redact(target)`, never the target itself.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import warnings
from typing import Final
from urllib.parse import quote, unquote, urlsplit

import apprise
from apprise.manager_plugins import NotificationManager

# apprise's e-mail plugin imports the stdlib `imghdr` (deprecated since 3.11, gone in
# 3.13) lazily: when a mailto URL is first parsed (`validate`) or sent, perhaps in a
# worker thread. Import it here once, with that one warning silenced, so the plugin finds
# it cached and nothing warns at alarm time.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
    import imghdr  # noqa: F401

__all__ = [
    "EMAIL_SCHEMES",
    "JSON_SCHEMES",
    "PUSH_SCHEMES",
    "SMS_SCHEMES",
    "WEBHOOK_SCHEMES",
    "address",
    "kind",
    "mail_url",
    "redact",
    "scheme",
    "validate",
    "with_query",
]

MAX_TARGET_LEN: Final = 2048
PLAIN_MAIL: Final = "mailto:"  # + one bare address: through the hub's SMTP server
EMAIL_SCHEMES: Final = frozenset({"mailto", "mailtos"})
PUSH_SCHEMES: Final = frozenset({"ntfy", "ntfys"})
JSON_SCHEMES: Final = frozenset({"json", "jsons"})
WEBHOOK_SCHEMES: Final = frozenset({"webhook+https", "webhook+http"})
# apprise's SMS gateways (the schemes of its plugins that send text messages to phones).
SMS_SCHEMES: Final = frozenset(
    {
        "46elks",
        "atalk",
        "bulksms",
        "bulkvs",
        "burstsms",
        "clickatell",
        "clicksend",
        "cm",
        "d7sms",
        "elks",
        "exotel",
        "freemobile",
        "httpsms",
        "infobip",
        "kaleyra",
        "kavenegar",
        "klr",
        "kudosity",
        "mobilemessage",
        "mobilemsg",
        "msg91",
        "msgbird",
        "octopush",
        "plivo",
        "serwersms",
        "seven",
        "sfr",
        "sinch",
        "smpp",
        "smpps",
        "smsc",
        "smseagle",
        "smseagles",
        "smsmanager",
        "smsmgr",
        "smstunnel",
        "telesign",
        "telnyx",
        "twilio",
        "vonage",
        "nexmo",
        "voipms",
    }
)

# One bare address: no display name (names stay out of targets), no list.
_ADDRESS_RE: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_EMAIL_IN_TEXT: Final = re.compile(r"[^\s@<>\"'(),;:/?&=\[\]]+@[^\s@<>\"'(),;:/?&=\[\]]+")
_PHONE_RE: Final = re.compile(r"\+?[0-9][0-9 .-]{6,}[0-9]")
_HOSTNAME_RE: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?"
)
# What a redacted URL keeps of a path segment or a query value: a word, no digits, or a
# very short code ("v1"). Tokens, topics and ids are longer or mix letters and digits.
_WORD_RE: Final = re.compile(r"[A-Za-z][A-Za-z_.-]{0,31}|[A-Za-z0-9_.-]{1,3}")
# Query keys whose values are settings, not secrets or personal data.
_SETTING_KEYS: Final = frozenset(
    {
        "mode",
        "format",
        "priority",
        "method",
        "overflow",
        "secure",
        "verify",
        "port",
        "cto",
        "rto",
        "retry",
        "wait",
        "optional",
        "image",
        "auth",
        "smtp",
        "lang",
    }
)
_MASK: Final = "***"


@functools.cache
def _apprise_schemes() -> frozenset[str]:
    """Every scheme an apprise plugin on this system handles (loaded once)."""
    plugins = NotificationManager()  # type: ignore[no-untyped-call]  # a singleton
    return frozenset(str(s).lower() for s in plugins.schemas())  # type: ignore[no-untyped-call]


def scheme(target: str) -> str:
    """The target's scheme, lower case ("mailto", "ntfys", "webhook+https"); "" for none."""
    head, sep, _ = target.strip().partition(":")
    return head.lower() if sep and _SCHEME_RE.fullmatch(head) else ""


def address(target: str) -> str | None:
    """The address of a plain e-mail target ("mailto:anna@example.org"), else None."""
    t = target.strip()
    if t[: len(PLAIN_MAIL)].lower() != PLAIN_MAIL or t[len(PLAIN_MAIL) :].startswith("//"):
        return None
    rest = t[len(PLAIN_MAIL) :]
    return rest if _ADDRESS_RE.fullmatch(rest) else None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_webhook(target: str, sch: str) -> str:
    parts = urlsplit(target[len("webhook+") :])
    try:
        parts.port  # noqa: B018 -- raises ValueError on a port out of range
    except ValueError as exc:
        raise ValueError("the webhook URL has an invalid port") from exc
    host = parts.hostname
    if not host:
        raise ValueError("the webhook URL has no host, e.g. webhook+https://host/path")
    if parts.username is not None or parts.password is not None:
        raise ValueError("put no credentials in a webhook URL: its requests are signed")
    if sch == "webhook+http" and not _is_loopback(host):
        raise ValueError("webhook+http:// is for loopback only; use webhook+https://")
    return target


def validate(target: str) -> str:
    """`target` as stored (surrounding space stripped), or ValueError saying what is wrong:
    an unknown scheme, a URL apprise cannot parse, a plain "mailto:" that is not one bare
    address, an insecure webhook. Nothing is sent and nothing is looked up."""
    if not isinstance(target, str):
        raise ValueError("a target is a string")
    t = target.strip()
    if not t:
        raise ValueError("empty target")
    if len(t) > MAX_TARGET_LEN:
        raise ValueError(f"target longer than {MAX_TARGET_LEN} characters")
    if any(not c.isprintable() or c.isspace() for c in t):
        raise ValueError("a target has no spaces or control characters")
    sch = scheme(t)
    if not sch:
        raise ValueError("a target starts with a scheme, e.g. mailto: or ntfys://")
    if sch == "mailto" and not t[len(PLAIN_MAIL) :].startswith("//"):
        if address(t) is None:
            raise ValueError("mailto: needs one bare e-mail address, e.g. mailto:anna@example.org")
        return t
    if not t[len(sch) + 1 :].startswith("//"):
        raise ValueError(f"unknown scheme {sch!r}: use an apprise URL ({sch}://...) or mailto:")
    if sch in WEBHOOK_SCHEMES:
        return _validate_webhook(t, sch)
    if sch not in _apprise_schemes():
        raise ValueError(f"unknown scheme {sch!r}: no apprise service handles {sch}://")
    if apprise.Apprise.instantiate(t) is None:
        raise ValueError(f"apprise cannot parse this {sch}:// URL: {redact(t)}")
    return t


def kind(target: str) -> str:
    """What a target reaches: "email", "push", "sms", "webhook", "json", else its scheme
    (e.g. "tgram"); "unknown" for a string without one."""
    sch = scheme(target)
    if sch in EMAIL_SCHEMES:
        return "email"
    if sch in PUSH_SCHEMES:
        return "push"
    if sch in SMS_SCHEMES:
        return "sms"
    if sch in WEBHOOK_SCHEMES:
        return "webhook"
    if sch in JSON_SCHEMES:
        return "json"
    return sch or "unknown"


# -- redaction ---------------------------------------------------------------------------


def _mask_email(addr: str) -> str:
    user, _, domain = addr.partition("@")
    return f"{user[:1]}{_MASK}@{domain}"


def _mask_phone(phone: str) -> str:
    p = re.sub(r"[ .-]", "", phone)
    if len(p) >= 10:
        return p[:4] + "*" * (len(p) - 8) + p[-4:]
    return _MASK + p[-2:]


def _mask_value(value: str, *, words: bool = True, setting: bool = False) -> str:
    """A URL piece as logs may show it: e-mail and phone numbers partly masked; a setting's
    value, and (`words`) a plain word, as they are; anything else (tokens, topics, names)
    "***"."""
    found = _EMAIL_IN_TEXT.search(value)
    if found:
        return _mask_email(found.group(0))
    if _PHONE_RE.fullmatch(value):
        return _mask_phone(value)
    if setting and re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", value):
        return value
    return value if words and _WORD_RE.fullmatch(value) else _MASK


def _host(host: str) -> str:
    if not host:
        return ""
    bare = host.strip("[]")
    if _is_loopback(bare) or _HOSTNAME_RE.fullmatch(host):
        return host
    try:
        ipaddress.ip_address(bare)
        return host
    except ValueError:
        pass
    if _PHONE_RE.fullmatch(host):
        return _mask_phone(host)
    return _MASK  # a token or a topic in the host's place (tgram://, ntfy://topic)


def _netloc(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport, "", ""
    if not hostport.startswith("[") and hostport.count(":") == 1:
        host, colon, port = hostport.partition(":")
    elif "]:" in hostport:
        host, _, port = hostport.rpartition(":")
        colon = ":"
    if colon and not port.isdigit():
        host, colon, port = hostport, "", ""  # not a port: a token of some service
    shown = _host(unquote(host)) + (colon + port if colon else "")
    if not at:
        return shown
    user, has_password, _ = userinfo.partition(":")
    masked = _mask_value(unquote(user))
    if masked == unquote(user) and masked:  # a plain word is still somebody's login
        masked = user[:1] + _MASK
    return f"{masked}{':' + _MASK if has_password else ''}@{shown}"


def redact(target: str) -> str:
    """`target` as logs and timelines may show it: no passwords, tokens or topics, e-mail
    addresses and phone numbers partly masked ("mailto:a***@example.org",
    "twilio://A***:***@+316****5678/+316****4321"). Never raises."""
    try:
        return _redact(target)
    except Exception:  # a log line must never take a delivery down
        return _MASK


def _redact(target: str) -> str:
    t = str(target).strip()
    sch = scheme(t)
    if not sch:
        return _MASK if t else ""
    rest = t[len(sch) + 1 :]
    if not rest.startswith("//"):  # "mailto:anna@...", "sms:+316..."
        return f"{sch}:{_mask_value(unquote(rest))}"
    parts = urlsplit("x:" + rest)
    out = f"{sch}://{_netloc(parts.netloc)}"
    segments = [s for s in parts.path.split("/") if s]
    if segments:
        # A push topic is the secret that subscribes to it, whatever it looks like.
        words = sch not in PUSH_SCHEMES
        out += "/" + "/".join(_mask_value(unquote(s), words=words) for s in segments)
    if parts.query:
        shown = []
        for pair in parts.query.split("&"):
            key, eq, value = pair.partition("=")
            key = unquote(key)
            if not re.fullmatch(r"\+?[A-Za-z][A-Za-z0-9_-]{0,31}", key):
                key = _MASK
            setting = key in _SETTING_KEYS
            shown.append(key + eq + _mask_value(unquote(value), words=False, setting=setting))
        out += "?" + "&".join(shown)
    return out


# -- building URLs -------------------------------------------------------------------------


def with_query(url: str, **params: str) -> str:
    """`url` with `params` appended to its query (values percent-encoded)."""
    if not params:
        return url
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def mail_url(smtp_url: str, target: str, thread: str | None = None) -> str:
    """The apprise URL that mails `target`.

    A plain target ("mailto:anna@example.org") goes through the hub's SMTP server:
    `smtp_url` is its apprise mailto URL without a recipient (``mailto://host:port?
    from=alarm@...&mode=...``, perhaps with credentials), the address is added as ``to=``.
    A full apprise mail URL (``mailto://``, ``mailtos://``) is used as it is. `thread`
    (a Message-ID) becomes the In-Reply-To and References headers, so mail clients
    thread a storm's mails."""
    addr = address(target)
    if addr is not None:
        sep = "&" if "?" in smtp_url else "?"
        url = f"{smtp_url}{sep}to={quote(addr, safe='@')}"
    elif scheme(target) in EMAIL_SCHEMES:
        url = target.strip()
    else:
        raise ValueError("not an e-mail target")
    if thread:
        # apprise sets its own Message-ID; "+Header=value" adds headers to the mail.
        url = with_query(url, **{"+In-Reply-To": thread, "+References": thread})
    return url
