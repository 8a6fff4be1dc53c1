"""A simulated mantelzorger: reads each alarm mail and answers on the family page.

It behaves like a person with a phone: after a short delay it opens the mail's link (GET
shows the alarm, as real mail scanners may prefetch links), follows *Open de
familiepagina* to the family page (docs/family.md; the link starts a short session there)
and presses "ik ga erheen" on the alarm; `arrive_after_s` later "ik ben er", and
`close_after_s` after that it closes the alarm with the outcome "family help". An alarm
the alarm centre holds stays open for the centre's operator (docs/alerts.md, "Taken on").
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from simulators.mail_sink import Mail

log = logging.getLogger(__name__)

ACK_LINK = re.compile(r"https?://\S+/ack/[A-Za-z0-9._~:-]+")
FAMILY_LINK = re.compile(r'href="(/familie/link/[^"]+)"')


class _FormParser(HTMLParser):
    """The first POST form (or the one whose action is `wanted`): its action and fields."""

    def __init__(self, wanted: str | None = None) -> None:
        super().__init__()
        self.wanted = wanted
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post" and self.action is None:
            if self.wanted is None or a.get("action") == self.wanted:
                self.action = a.get("action", "")
                self._in_form = True
        elif tag == "input" and self._in_form and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def find_ack_link(text: str) -> str | None:
    match = ACK_LINK.search(text)
    return match.group(0).rstrip(".,)>") if match else None


@dataclass(slots=True)
class SimulatedMantelzorger:
    """Acknowledges every alarm mail after `delay_s` (± `jitter_s`), via the mail's link."""

    delay_s: float = 8.0
    jitter_s: float = 4.0
    arrive_after_s: float = 10.0
    close_after_s: float = 10.0
    seed: int = 7
    acknowledged: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def on_mail(self, mail: Mail) -> None:
        link = find_ack_link(mail.text)
        if link is None:
            return
        delay = max(0.5, self.delay_s + self._rng.uniform(-self.jitter_s, self.jitter_s))
        task = asyncio.get_running_loop().create_task(self._acknowledge(link, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, link: str, delay: float) -> None:
        await asyncio.sleep(delay)  # the person reads the mail and decides
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
                page = await self._open_family_page(http, link)
                if page is None:
                    return
                url, alarm_form = page
                if not await self._press(http, url, alarm_form, {"action": "on_my_way"}):
                    return
                self.acknowledged.append(link)
                log.info("mantelzorger: on my way, on the family page %s", url)
                await asyncio.sleep(self.arrive_after_s)  # travels to the dwelling
                if not await self._press(http, url, alarm_form, {"action": "arrived"}):
                    return
                await asyncio.sleep(self.close_after_s)  # helps the resident
                closing = {"action": "closed", "outcome": "family_help"}
                if await self._press(http, url, alarm_form, closing):
                    self.closed.append(link)
        except httpx.HTTPError as exc:
            self.failures.append(f"{link}: {exc}")
            log.warning("mantelzorger: could not answer via %s: %s", link, exc)

    async def _open_family_page(self, http: httpx.AsyncClient, link: str) -> tuple[str, str] | None:
        """From the mail's link to the family page: (the page's URL, the action of the
        alarm's form there), or None when the link leads nowhere (expired, revoked)."""
        ack = await http.get(link)
        ack.raise_for_status()
        found = FAMILY_LINK.search(ack.text)
        if found is None:
            log.info("mantelzorger: %s offers no family page", link)
            return None
        start = urljoin(str(ack.url), found.group(1))
        button = await http.get(start)  # shows a button; the POST starts the session
        button.raise_for_status()
        opened = await http.post(start)
        opened.raise_for_status()
        # The redirect names the alarm: /familie/woning/dw-001#alarm-<id>.
        where = opened.history[-1].headers.get("location", "") if opened.history else ""
        alarm_id = where.partition("#alarm-")[2]
        if not alarm_id:
            log.info("mantelzorger: the family page did not say which alarm %s is", link)
            return None
        return str(opened.url).split("#", 1)[0], f"/familie/alarmen/{alarm_id}"

    async def _press(
        self, http: httpx.AsyncClient, url: str, action: str, values: dict[str, str]
    ) -> bool:
        """Open the family page and submit the alarm's form with `values`; False when the
        page shows none for it (somebody else closed the alarm, or it is over)."""
        page = await http.get(url)
        page.raise_for_status()
        form = _FormParser(action)
        form.feed(page.text)
        if form.action is None:
            log.info("mantelzorger: %s shows no form for %s (already handled?)", url, action)
            return False
        done = await http.post(urljoin(url, form.action), data={**form.fields, **values})
        done.raise_for_status()
        return True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
