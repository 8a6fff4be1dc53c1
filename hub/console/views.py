"""What several pages render: the top bar's values, alarm cards, the queue and recent
lists, the queue's filters and the dwelling board. A record that cannot be formatted
costs one placeholder card, never the page or the live stream."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome
from alerts.texts import KIND_LABELS, SEVERITY_LABELS
from hub.api.auth import csrf_token, session_operator
from hub.api.console import Console
from hub.console import present
from hub.console.present import SEVERITY_ORDER, RenderFailures, queue_order, record_id
from hub.console.texts import RELATIVE, UI

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

RECENT_LIMIT = 25  # resolved alarms shown under the open ones, last resolved first
RECENT_SCAN = 500  # newest alarms (by receive time) searched for them
NOTE_MAX = 2000


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["OUTCOMES"] = [o.value for o in Outcome]  # the closing codes, in order
    return Jinja2Templates(env=env)


@dataclass(frozen=True, slots=True)
class Card:
    """One alarm card, rendered on its own."""

    id: str
    version: str  # what console.js compares to keep an unchanged card
    html: Markup


@dataclass(slots=True)
class Views:
    console: Console
    failures: RenderFailures = field(default_factory=RenderFailures)

    def base(self, request: Request, lang: str) -> dict[str, Any]:
        """What every signed-in page's layout needs."""
        ctx = self.console.ctx
        return {
            "t": UI[lang],
            "lang": lang,
            "other_lang": "en" if lang == "nl" else "nl",
            "operator": session_operator(request),
            "csrf": csrf_token(request),
            "relative_json": json.dumps(RELATIVE[lang]),
            "demo": ctx.console.demo,
            "demo_hint": ctx.console.demo_login_hint if ctx.console.demo else "",
        }

    def render(self, name: str, values: dict[str, Any]) -> str:
        return self.console.templates.get_template(name).render(values)

    def part(self, name: str, values: dict[str, Any]) -> tuple[Markup, str]:
        """A page's live part (hub.console.events) and its version: the page and the
        stream render it alike, so the browser swaps it only when it really changed."""
        html = self.render(name, values)
        # Rendered by an autoescaping template: already safe HTML.
        return Markup(html), hashlib.blake2s(html.encode()).hexdigest()[:16]  # noqa: S704

    def centre_reachable(self) -> bool | None:
        """The alarm-centre link's state for the top bar (None: no link configured)."""
        state = self.console.alarms.centre_state()
        return None if state is None else bool(state.reachable)

    def top(self, lang: str, page: str) -> dict[str, Any]:
        """The top bar's summary, for a page without the alarm lists."""
        alarms = self.console.alarms.open_alarms()
        return {"summary": present.summary(alarms, lang, self.centre_reachable()), "page": page}

    def layout(self, request: Request, lang: str, page: str) -> dict[str, Any]:
        """`base` and `top`: what a signed-in page without the alarm lists needs."""
        return {**self.base(request, lang), **self.top(lang, page)}

    def macro(self, name: str, *args: Any) -> Markup:
        module = self.console.templates.get_template("_alarm.html").module
        out = getattr(module, name)(*args)
        if not isinstance(out, Markup):  # autoescape is on: a macro returns Markup
            raise TypeError(f"macro {name} returned {type(out).__name__}, not Markup")
        return out

    def card(self, rec: AlarmRecord, lang: str, csrf: str, now: float, me: str) -> Card:
        """`me`: the operator the card is rendered for (their claim buttons differ)."""
        t = UI[lang]
        try:
            view = self.alarm(rec, lang, now)
            return Card(rec.id, view.version, self.macro("card", view, t, csrf, me))
        except Exception as exc:  # one alarm must never take the console down for everyone
            self.failures.report("alarm", record_id(rec), exc)
        b = present.broken_alarm(rec)
        try:
            return Card(b.id, b.version, self.macro("broken", b, t, csrf))
        except Exception as exc:
            self.failures.report("alarm placeholder", b.id, exc)
            text = t["undisplayable_alarm"].format(id=b.id)
            html = Markup('<article class="alarm broken"><h3>{}</h3></article>').format(text)
            return Card(b.id, "broken", html)

    def alarm(self, rec: AlarmRecord, lang: str, now: float) -> present.AlarmView:
        console = self.console
        holder = console.operator_name(rec.claimed_by) if rec.claimed_by else ""
        return present.alarm_view(rec, console.label(rec.dwelling), lang, console.tz, now, holder)

    def lists(self, lang: str, csrf: str, me: str) -> dict[str, Any]:
        """The open alarms in queue order, the recently resolved, the top bar's summary."""
        alarms = self.console.alarms
        now = self.console.clock()
        open_ = queue_order(alarms.open_alarms())
        # recent() is ordered by receive time; an alarm open for long and resolved just now
        # must still show (first): look further back and order by resolution.
        recent = sorted(
            (a for a in alarms.recent(RECENT_SCAN) if a.state is AlarmState.RESOLVED),
            key=lambda a: a.resolved_at or 0.0,
            reverse=True,
        )
        return {
            "open_cards": [self.card(a, lang, csrf, now, me) for a in open_],
            "recent_cards": [self.card(a, lang, csrf, now, me) for a in recent[:RECENT_LIMIT]],
            "summary": present.summary(open_, lang, self.centre_reachable()),
        }

    def filters(self, lang: str) -> dict[str, Any]:
        """The queue's filter choices: severities, kinds and the registered dwellings, in
        the console's language."""
        dwellings = sorted(self.console.ctx.registry.dwellings(), key=lambda d: d.label)
        return {
            "severities": [(s.value, SEVERITY_LABELS[lang][s]) for s in SEVERITY_ORDER],
            "kinds": [(k.value, KIND_LABELS[lang][k]) for k in AlarmKind],
            "dwelling_choices": [(d.id, d.label) for d in dwellings],
        }

    def board(self, lang: str) -> dict[str, Any]:
        ctx = self.console.ctx
        return {
            "board": present.board_view(
                ctx.registry.dwellings(),
                ctx.presence.board(),
                self.console.alarms.open_alarms(),
                lang,
                self.console.clock(),
                self.failures,
            )
        }
