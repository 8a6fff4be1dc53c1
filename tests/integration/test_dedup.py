"""hub.dedup on both backends (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub.dedup import DAY_S, Deduplicator
from hub.sql.engine import open_engine, writing


def test_unseen_then_seen(sql_engine: Engine) -> None:
    d = Deduplicator(sql_engine)
    assert not d.seen("abcdefgh01")
    d.record("abcdefgh01", 1000.0)
    assert d.seen("abcdefgh01")
    assert not d.seen("abcdefgh02")


def test_recording_twice_is_harmless(sql_engine: Engine) -> None:
    d = Deduplicator(sql_engine)
    d.record("abcdefgh01", 1000.0)
    d.record_many(["abcdefgh01", "abcdefgh02", "abcdefgh02"], 2000.0)
    assert len(d) == 2
    assert d.seen_among(["abcdefgh01", "abcdefgh02", "abcdefgh03"]) == {
        "abcdefgh01",
        "abcdefgh02",
    }


def test_record_new_says_which_ids_were_new(sql_engine: Engine) -> None:
    """What batched ingest relies on: one statement records a batch's ids and tells the
    new from those recorded before (or given twice), so no lookup is needed first."""
    d = Deduplicator(sql_engine)
    d.record("abcdefgh01", 1000.0)
    many = [f"batch{i:05d}" for i in range(600)]  # more than one chunk of a lookup
    new = d.record_new(["abcdefgh01", "abcdefgh02", "abcdefgh02", *many], 2000.0)
    assert new == {"abcdefgh02", *many}
    assert d.record_new(["abcdefgh02", "abcdefgh03"], 3000.0) == {"abcdefgh03"}
    assert d.record_new([], 3000.0) == set()
    assert len(d) == 603


def test_an_id_recorded_in_a_failed_transaction_is_not_seen(sql_engine: Engine) -> None:
    """The id commits with the write it guards, or not at all: a crash between the two
    can neither lose the message (id kept, write lost) nor store it twice."""
    d = Deduplicator(sql_engine)
    with pytest.raises(RuntimeError), writing(sql_engine) as conn:
        d.record("abcdefgh01", 1000.0, conn)
        raise RuntimeError("the guarded write failed")
    assert not d.seen("abcdefgh01")


def test_survives_reopen(sql_engine: Engine) -> None:
    """A hub restart (or another worker) still recognises a redelivered message."""
    Deduplicator(sql_engine).record("abcdefgh01", 1000.0)
    other = open_engine(sql_engine.url.render_as_string(hide_password=False))
    try:
        assert Deduplicator(other).seen("abcdefgh01")
    finally:
        other.dispose()


def test_prune_forgets_only_old_ids(sql_engine: Engine) -> None:
    d = Deduplicator(sql_engine, keep_days=7)
    now = 100 * DAY_S
    d.record("old-message-1", now - 8 * DAY_S)
    d.record("new-message-1", now - 6 * DAY_S)
    assert d.prune(now) == 1
    assert not d.seen("old-message-1")
    assert d.seen("new-message-1")
