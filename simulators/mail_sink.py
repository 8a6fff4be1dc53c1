"""A local mail sink for the demo: a real SMTP server (aiosmtpd) and a page that shows its mails.

The hub delivers alarm mails to it over SMTP exactly as it would to a real mail server;
listeners (the simulated mantelzorger) are told of each mail as it arrives.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    received_at: float
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str


@dataclass(slots=True)
class MailSink:
    """Keeps every mail it receives; `on_mail` callbacks run in the event loop."""

    clock: Callable[[], float]
    mails: list[Mail] = field(default_factory=list)
    listeners: list[Callable[[Mail], None]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        mail = Mail(
            received_at=self.clock(),
            sender=str(envelope.mail_from),
            recipients=tuple(str(r) for r in envelope.rcpt_tos),
            subject=str(msg.get("Subject", "")),
            text=str(text),
        )
        self.mails.append(mail)
        # Not the addresses: the demo's log stands for the hub's, and stays free of them.
        log.info("mail sink: %r to %d recipient(s)", mail.subject, len(mail.recipients))
        for listener in self.listeners:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(listener, mail)
            else:
                listener(mail)
        return "250 Message accepted for delivery"

    def render_html(self) -> str:
        """The demo inbox: newest first, links clickable."""
        rows = []
        for m in reversed(self.mails):
            body = html.escape(m.text)
            for word in set(body.split()):
                if word.startswith(("http://", "https://")):
                    body = body.replace(word, f'<a href="{word}">{word}</a>')
            rows.append(
                f"<article><h2>{html.escape(m.subject)}</h2>"
                f"<p class=meta>aan {html.escape(', '.join(m.recipients))}</p>"
                f"<pre>{body}</pre></article>"
            )
        return (
            "<!doctype html><html lang=nl><meta charset=utf-8>"
            "<meta http-equiv=refresh content=5><title>Demo-postvak</title>"
            "<style>body{font:15px system-ui;margin:2rem;max-width:60rem}"
            "article{border:1px solid #ccc;border-radius:8px;padding:0 1rem;margin:1rem 0}"
            ".meta{color:#555}pre{white-space:pre-wrap}</style>"
            f"<h1>Demo-postvak ({len(self.mails)} mails)</h1>"
            + ("".join(rows) or "<p>Nog geen mail.</p>")
        )


def inbox_app(sink: MailSink) -> Any:
    """A tiny ASGI app that shows the sink's mails (serve it with uvicorn)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(sink.render_html())

    return Starlette(routes=[Route("/", index)])
