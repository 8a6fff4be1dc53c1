from __future__ import annotations

from pathlib import Path

from hub.dedup import DAY_S, Deduplicator


def test_unseen_then_seen(tmp_path: Path) -> None:
    d = Deduplicator(tmp_path / "dedup.sqlite")
    assert not d.seen("abcdefgh01")
    d.record("abcdefgh01", 1000.0)
    assert d.seen("abcdefgh01")
    assert not d.seen("abcdefgh02")


def test_recording_twice_is_harmless(tmp_path: Path) -> None:
    d = Deduplicator(tmp_path / "dedup.sqlite")
    d.record("abcdefgh01", 1000.0)
    d.record("abcdefgh01", 2000.0)
    assert len(d) == 1


def test_survives_reopen(tmp_path: Path) -> None:
    """A hub restart must still recognise a redelivered message."""
    d = Deduplicator(tmp_path / "dedup.sqlite")
    d.record("abcdefgh01", 1000.0)
    d.close()
    again = Deduplicator(tmp_path / "dedup.sqlite")
    assert again.seen("abcdefgh01")


def test_prune_forgets_only_old_ids(tmp_path: Path) -> None:
    d = Deduplicator(tmp_path / "dedup.sqlite", keep_days=7)
    now = 100 * DAY_S
    d.record("old-message-1", now - 8 * DAY_S)
    d.record("new-message-1", now - 6 * DAY_S)
    assert d.prune(now) == 1
    assert not d.seen("old-message-1")
    assert d.seen("new-message-1")
