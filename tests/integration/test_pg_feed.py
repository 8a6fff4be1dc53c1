"""hub.pg_feed: the consoles' change feed on PostgreSQL (LISTEN/NOTIFY), against a real
server: what another worker commits is seen, what it has not committed is not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from alerts.model import Contact
from alerts.store import AlarmStore
from hub.context import Actor, Dwelling, Operator
from hub.pg_feed import PgFeed, parse
from hub.registry import Registry
from hub.sql.engine import open_engine
from hub.sql.schema import prepare
from hub.watch import StoreChange
from tests.integration.test_alarm_store import alarm

ADMIN = Actor("root", "admin", "cli")


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = open_engine(pg_url)
    prepare(engine)
    yield engine
    engine.dispose()


def arrived(feed: PgFeed, within_s: float = 10.0) -> StoreChange | None:
    """The feed's next change, waiting for it: a NOTIFY reaches the LISTEN connection
    shortly after the commit, not at once."""
    deadline = time.monotonic() + within_s
    while (change := feed.read()) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return change


def settled(feed: PgFeed, expected: StoreChange, within_s: float = 10.0) -> StoreChange:
    """What the feed reported, read after read, until it adds up to `expected` (or the
    time is up): two commits' NOTIFYs may come in one read or in two."""
    seen = StoreChange(expected.store)
    deadline = time.monotonic() + within_s
    while seen != expected and time.monotonic() < deadline:
        change = feed.read()
        if change is None:
            time.sleep(0.01)
            continue
        seen = StoreChange(
            seen.store,
            alarms=seen.alarms | change.alarms,
            dwellings=seen.dwellings | change.dwellings,
            operators=seen.operators | change.operators,
            everything=seen.everything or change.everything,
        )
    return seen


def test_committed_alarm_changes_are_seen_and_a_reconnect_says_everything(pg: Engine) -> None:
    feed = PgFeed("store", pg.url.render_as_string(hide_password=False))
    try:
        assert feed.read() is None  # the first look: changes from here on
        store = AlarmStore(pg)
        rec = alarm("a" * 32)
        assert store.insert_alarm(rec)
        store.log_event(rec.id, rec.received_at + 1, "note", "anja", "gebeld")
        expected = StoreChange(
            "store", alarms=frozenset({rec.id}), dwellings=frozenset({rec.dwelling})
        )
        assert settled(feed, expected) == expected
        late = feed.read()  # nothing new: at most the later NOTIFY of the same two commits
        assert late is None or (late.alarms <= expected.alarms and not late.everything)
        feed.close()  # the connection lost: what was sent meanwhile is gone
        store.log_event(rec.id, rec.received_at + 2, "note", "anja", "weer gebeld")
        again = feed.read()
        assert again is not None and again.everything
    finally:
        feed.close()


def test_an_uncommitted_change_is_not_announced(pg: Engine) -> None:
    feed = PgFeed("store", pg.url.render_as_string(hide_password=False))
    store = AlarmStore(pg)
    try:
        feed.read()
        with pytest.raises(RuntimeError), pg.begin() as conn:
            from alerts.tables import alarm_log

            conn.execute(alarm_log.insert().values(alarm_id="b" * 32, at=1.0, what="note", note=""))
            assert feed.read() is None  # not yet committed
            raise RuntimeError("rolled back")
        assert feed.read() is None
        assert store.get("b" * 32) is None
    finally:
        feed.close()


def test_payloads_name_alarms_dwellings_and_operators() -> None:
    assert parse("alarm_log:abc:dw-001") == ("abc", "dw-001", None)
    assert parse("contacts:dw-002") == (None, "dw-002", None)
    assert parse("operators:anja") == (None, None, "anja")


def test_registry_edits_name_their_dwelling_or_operator(pg: Engine) -> None:
    """The registry's NOTIFY triggers (migration 0005), as hub.watch's SQLite feed reports
    them: an edit names its dwelling, an operator change or a session's end the operator;
    a new session or a session touch is nothing a console shows."""
    feed = PgFeed("store", pg.url.render_as_string(hide_password=False))
    reg = Registry(pg)
    try:
        assert feed.read() is None
        reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
        reg.add_contact(Contact("c-anna", "dw-001", "Anna", "anna@example.org"))
        added = StoreChange("store", dwellings=frozenset({"dw-001"}))
        assert settled(feed, added) == added
        reg.add_operator(Operator("jan", "operator"), "juist-wachtwoord-42")
        assert arrived(feed) == StoreChange("store", operators=frozenset({"jan"}))
        sid, _ = reg.create_session("jan", 1000.0, max_age_s=3600, idle_s=600)
        assert reg.session(sid, 1000.0 + 120, idle_s=600) is not None  # touched
        assert feed.read() is None
        reg.update_resident("dw-001", {"gp_phone": "030 123 4567"}, ADMIN, 1001.0)
        assert arrived(feed) == StoreChange("store", dwellings=frozenset({"dw-001"}))
        assert reg.end_session(sid)
        assert arrived(feed) == StoreChange("store", operators=frozenset({"jan"}))
    finally:
        feed.close()
