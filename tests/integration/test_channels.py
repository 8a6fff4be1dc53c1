"""ChannelRouter against real local servers: aiosmtpd for mail, an HTTP server on loopback
taking ntfy, json://, SMSEagle and signed webhook posts. apprise is never mocked."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.channels import Notification
from alerts.channels.router import ChannelRouter
from alerts.channels.webhook import message_id, new_secret, verify
from alerts.errors import ChannelError, WebhookVerificationError
from alerts.model import AlarmKind, Contact, Severity
from tests.servers import SmtpSink, free_port

pytestmark = pytest.mark.integration

NOW = 1_795_580_962.0  # 2026-11-25 04:29:22 UTC
ACK = "http://127.0.0.1:9/ack/tok.sig"
SHORT = "ALARM: val — Unit 3 (urgentie: kritiek). Ga direct kijken of bel 112 bij levensgevaar."
THREAD = "<mz-thread.7@hub.example.org>"
SECRET = new_secret()


def note(**over: object) -> Notification:
    base = Notification(
        alarm_id="a" * 32,
        contact=Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org"),
        subject="ALARM: val — Unit 3",
        body="Beste Anna de Vries,\n\nIn Unit 3 is een val gemeld (urgentie: kritiek).\n",
        ack_url=ACK,
        round=0,
        short=SHORT,
        kind=AlarmKind.FALL,
        severity=Severity.CRITICAL,
    )
    return replace(base, **over)  # type: ignore[arg-type]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class HttpSink:
    """A real HTTP server (http.server, in a thread) that keeps every request it gets and
    answers each with `status` and `reply`."""

    port: int
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b'{"id": "x1", "event": "message"}'

    def url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@pytest.fixture
def http() -> Iterator[HttpSink]:
    sink = HttpSink(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            # Kept before answering: the sender returns only after the answer.
            sink.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            self.send_response(sink.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(sink.reply)))
            self.end_headers()
            self.wfile.write(sink.reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # not to stderr

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def router(smtp: SmtpSink | None = None, **kw: object) -> ChannelRouter:
    email = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure" if smtp else None
    args: dict[str, object] = {"timeout_s": 5.0, "clock": lambda: NOW}
    args.update(kw)
    return ChannelRouter(email, SECRET, **args)  # type: ignore[arg-type]


# -- e-mail --------------------------------------------------------------------------------


async def test_a_plain_address_goes_through_the_hubs_smtp_server_in_the_storms_thread(
    smtp: SmtpSink,
) -> None:
    await router(smtp).send("mailto:anna@example.org", note(thread=THREAD))
    (mail,) = smtp.messages
    assert mail["To"] == "anna@example.org"
    assert mail["From"].endswith("<alarm@mz.local>") or mail["From"] == "alarm@mz.local"
    assert mail["In-Reply-To"] == THREAD and mail["References"] == THREAD
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "In Unit 3 is een val gemeld (urgentie: kritiek)." in payload.decode()


async def test_a_contacts_own_mail_url_is_used_as_it_is(smtp: SmtpSink) -> None:
    own = smtp.apprise_url(to="bob@example.org")
    await ChannelRouter(None, None).send(own, note())  # no hub SMTP server needed
    assert [m["To"] for m in smtp.messages] == ["bob@example.org"]
    assert smtp.messages[0]["In-Reply-To"] is None  # no thread, no header


async def test_a_plain_address_without_a_hub_smtp_server_fails_for_good() -> None:
    with pytest.raises(ChannelError) as err:
        await ChannelRouter(None, None).send("mailto:anna@example.org", note())
    assert err.value.channel == "email" and not err.value.retryable
    assert "anna@" not in str(err.value)


async def test_an_smtp_server_that_is_down_is_worth_a_retry() -> None:
    down = f"mailto://127.0.0.1:{free_port()}?from=alarm@mz.local&mode=insecure"
    with pytest.raises(ChannelError) as err:
        await ChannelRouter(down, None, timeout_s=5.0).send("mailto:anna@example.org", note())
    assert err.value.channel == "email" and err.value.retryable


# -- push, json, SMS through apprise ------------------------------------------------------


async def test_ntfy_push_carries_the_short_text_and_opens_the_ack_link(http: HttpSink) -> None:
    await router().send(http.url("ntfy", "/mz-anna"), note())
    (req,) = http.requests
    assert req.method == "POST" and req.path == "/"  # ntfy's publish-as-JSON endpoint
    assert req.json() == {
        "topic": "mz-anna",
        "title": "ALARM: val — Unit 3",
        "message": f"{SHORT}\n{ACK}",
    }
    assert req.headers["X-Click"] == ACK  # a tap on the push opens the link


async def test_json_gets_the_short_text_and_the_link(http: HttpSink) -> None:
    await router().send(http.url("json", "/alarms/in"), note())
    (req,) = http.requests
    assert req.path == "/alarms/in"
    body = req.json()
    assert body["title"] == "ALARM: val — Unit 3" and body["message"] == f"{SHORT}\n{ACK}"


async def test_an_sms_gateway_sends_one_line_with_the_link(
    http: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    http.reply = b'{"result": {"message_id": 4753, "status": "ok"}}'
    target = http.url("smseagle", "/+31612345678").replace("://", "://tok3n@")
    await router().send(target, note())
    (req,) = http.requests
    assert req.path == "/jsonrpc/sms"
    params = req.json()["params"]
    assert isinstance(params, dict)
    assert params["to"] == "+31612345678" and params["message"] == f"{SHORT} {ACK}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "31612345678" not in logged and "tok3n" not in logged


async def test_a_gateway_that_says_no_raises_a_retryable_error(http: HttpSink) -> None:
    http.status = 500
    with pytest.raises(ChannelError) as err:
        await router().send(http.url("json", "/alarms"), note())
    assert err.value.channel == "json" and err.value.retryable


@pytest.mark.parametrize("scheme", ["ntfy", "json", "webhook+http"])
async def test_a_closed_port_raises_a_retryable_error(scheme: str) -> None:
    target = f"{scheme}://127.0.0.1:{free_port()}/topic"
    with pytest.raises(ChannelError) as err:
        await router().send(target, note())
    assert err.value.retryable


# -- the signed webhook ---------------------------------------------------------------------


async def test_the_webhook_is_signed_and_says_what_happened_without_names(http: HttpSink) -> None:
    await router().send(http.url("webhook+http", "/hook"), note())
    (req,) = http.requests
    assert req.path == "/hook" and req.headers["content-type"] == "application/json"
    body = verify(SECRET, req.headers, req.body, now=NOW + 10)
    assert body == {
        "type": "alarm.notification",
        "timestamp": "2026-11-25T04:29:22Z",
        "data": {
            "alarm_id": "a" * 32,
            "dwelling": "dw-001",
            "kind": "fall",
            "severity": "critical",
            "round": 0,
            "language": "nl",
            "text": SHORT,
            "ack_url": ACK,
        },
    }
    assert b"Anna" not in req.body and b"anna@" not in req.body
    assert req.headers["webhook-id"] == message_id(note())
    assert req.headers["webhook-timestamp"] == str(int(NOW))
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), req.headers, req.body, now=NOW)  # another secret
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, req.headers, req.body.replace(b"fall", b"none"), now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, req.headers, req.body, now=NOW + 301)  # a replay, too late


async def test_a_retried_webhook_keeps_its_id_with_a_fresh_signature(http: HttpSink) -> None:
    clock = iter([NOW, NOW + 40])
    r = router(clock=lambda: next(clock))
    await r.send(http.url("webhook+http", "/hook"), note())
    await r.send(http.url("webhook+http", "/hook"), note())
    first, second = http.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    verify(SECRET, second.headers, second.body, now=NOW + 40)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (404, False)])
async def test_a_webhook_answer_says_whether_to_retry(
    http: HttpSink, status: int, retryable: bool
) -> None:
    http.status = status
    with pytest.raises(ChannelError) as err:
        await router().send(http.url("webhook+http", "/hook"), note())
    assert err.value.channel == "webhook" and err.value.retryable is retryable
    assert f"HTTP {status}" in str(err.value)


async def test_a_webhook_without_a_secret_fails_for_good(http: HttpSink) -> None:
    with pytest.raises(ChannelError) as err:
        await ChannelRouter(None, None).send(http.url("webhook+http", "/hook"), note())
    assert not err.value.retryable and http.requests == []


# -- targets that cannot work ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "foo://127.0.0.1/x",  # no such service
        "twilio://s3cret",  # apprise cannot parse it
        "webhook+http://example.org/hook",  # plain http off loopback
        "mailto:Anna de Vries <anna@example.org>",
    ],
)
async def test_a_target_that_cannot_work_fails_for_good_without_showing_secrets(
    target: str,
) -> None:
    with pytest.raises(ChannelError) as err:
        await router().send(target, note())
    assert not err.value.retryable
    assert "s3cret" not in str(err.value) and "Anna" not in str(err.value)
