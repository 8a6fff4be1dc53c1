"""The outbox claim: most severe first, fair across dwellings, folded per contact; on
SQLite and on PostgreSQL (the `sql_engine` fixture)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from alerts.model import ALL_CLEAR_ROUND, AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.store import AlarmStore, OutboxStatus
from tests.ops_store import ops_engine

T0 = 1_000_000.0
FOLD = 120.0


def alarm(
    alarm_id: str, dwelling: str, severity: Severity = Severity.MEDIUM, at: float = T0
) -> AlarmRecord:
    return AlarmRecord(
        id=alarm_id,
        dwelling=dwelling,
        kind=AlarmKind.PERSONAL,
        severity=severity,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=at,
        received_at=at,
    )


def queue(
    store: AlarmStore,
    alarm_id: str,
    dwelling: str,
    severity: Severity = Severity.MEDIUM,
    at: float = T0,
    contact: str = "c-1",
) -> None:
    assert store.insert_alarm(alarm(alarm_id, dwelling, severity, at))
    assert store.enqueue(alarm_id, contact, "email", 0, at)


def send(store: AlarmStore, now: float, **kw: float) -> list[str]:
    """Claim the next mail, mark it sent; the alarms it carried (the claimed one first)."""
    row = store.claim("hub-1", now, **kw)
    if row is None:
        return []
    rows = store.batch(row.id)
    store.finish_all([r.id for r in rows], OutboxStatus.SENT, now)
    return [r.alarm_id for r in rows]


def test_another_dwellings_alarm_is_claimed_before_a_storms_backlog(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    for i in range(200):
        queue(store, f"a-{i:03d}", "dw-a", at=T0 + i * 0.01)
    assert send(store, T0 + 5) == ["a-000"]
    queue(store, "b-000", "dw-b", at=T0 + 6)
    # dw-a's next row is older, but dw-a was just served and dw-b never was.
    assert send(store, T0 + 7) == ["b-000"]
    assert send(store, T0 + 7) == ["a-001"]


def test_round_robin_across_dwellings_within_a_severity(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    for i in range(3):
        queue(store, f"a-{i}", "dw-a", at=T0 + i)
    for i in range(2):
        queue(store, f"b-{i}", "dw-b", at=T0 + 10 + i)
    queue(store, "c-0", "dw-c", at=T0 + 20)
    order = [send(store, T0 + 30 + k)[0] for k in range(6)]
    assert order == ["a-0", "b-0", "c-0", "a-1", "b-1", "a-2"]
    assert store.claim("hub-1", T0 + 30) is None


def test_a_critical_alarm_overtakes_medium_ones(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    for i in range(50):
        queue(store, f"m-{i:02d}", "dw-a", Severity.MEDIUM, at=T0 + i)
    queue(store, "low", "dw-b", Severity.LOW, at=T0 - 100)
    queue(store, "high", "dw-c", Severity.HIGH, at=T0 + 60)
    queue(store, "crit", "dw-a", Severity.CRITICAL, at=T0 + 61)
    assert [send(store, T0 + 70)[0] for _ in range(3)] == ["crit", "high", "m-00"]
    # The oldest, but the least severe: last.
    remaining = [send(store, T0 + 70)[0] for _ in range(50)]
    assert remaining[-1] == "low"


def test_every_alarms_message_goes_before_an_all_clear(sql_engine: Engine) -> None:
    """A critical alarm that is over owes three contacts an all-clear; another dwelling's
    medium alarm (and one of the same dwelling) still goes first: an all-clear tells of
    nothing to do and waits for every alarm's message, whatever its severity."""
    store = AlarmStore(sql_engine)
    assert store.insert_alarm(alarm("over", "dw-a", Severity.CRITICAL))
    for c in ("c-1", "c-2", "c-3"):
        assert store.enqueue("over", c, "email", ALL_CLEAR_ROUND, T0)
    queue(store, "b", "dw-b", Severity.MEDIUM, at=T0 + 1)
    queue(store, "a", "dw-a", Severity.LOW, at=T0 + 2)
    order = [send(store, T0 + 5, fold_window_s=FOLD) for _ in range(5)]
    assert order == [["b"], ["a"], ["over"], ["over"], ["over"]]


def test_rows_not_yet_due_wait(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    queue(store, "later", "dw-a", Severity.CRITICAL, at=T0 + 10)
    assert store.claim("hub-1", T0) is None
    assert send(store, T0 + 10) == ["later"]


def test_a_fold_window_holds_a_dwellings_alarms_for_one_mail(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    queue(store, "a-first", "dw-a", at=T0)
    assert send(store, T0, fold_window_s=FOLD) == ["a-first"]
    for i in range(20):
        queue(store, f"a-{i:02d}", "dw-a", at=T0 + 1 + i)
    queue(store, "b-0", "dw-b", at=T0 + 30)
    # Within dw-a's window its alarms wait; dw-b's is sent at once.
    assert send(store, T0 + 30, fold_window_s=FOLD) == ["b-0"]
    assert store.claim("hub-1", T0 + 119, fold_window_s=FOLD) is None
    # When the window has passed, one mail carries all twenty.
    carried = send(store, T0 + 121, fold_window_s=FOLD)
    assert sorted(carried) == [f"a-{i:02d}" for i in range(20)]
    assert len({r.batch for r in store.outbox() if r.alarm_id.startswith("a-")}) == 2
    assert store.claim("hub-1", T0 + 300, fold_window_s=FOLD) is None


def test_a_more_severe_alarm_breaks_the_window_and_takes_the_others_along(
    sql_engine: Engine,
) -> None:
    store = AlarmStore(sql_engine)
    queue(store, "first", "dw-a", Severity.HIGH, at=T0)
    assert send(store, T0, fold_window_s=FOLD) == ["first"]
    queue(store, "same", "dw-a", Severity.HIGH, at=T0 + 1)
    queue(store, "less", "dw-a", Severity.MEDIUM, at=T0 + 2)
    assert store.claim("hub-1", T0 + 3, fold_window_s=FOLD) is None
    queue(store, "worse", "dw-a", Severity.CRITICAL, at=T0 + 4)
    carried = send(store, T0 + 4, fold_window_s=FOLD)
    assert carried[0] == "worse" and sorted(carried) == ["less", "same", "worse"]
    # The window now holds a critical alarm: another critical one waits for its end.
    queue(store, "worse2", "dw-a", Severity.CRITICAL, at=T0 + 5)
    assert store.claim("hub-1", T0 + 5, fold_window_s=FOLD) is None
    assert send(store, T0 + 4 + FOLD + 1, fold_window_s=FOLD) == ["worse2"]


def test_the_fold_window_is_per_contact(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    queue(store, "a-0", "dw-a", contact="c-anna")
    assert send(store, T0, fold_window_s=FOLD) == ["a-0"]
    store.enqueue("a-0", "c-bob", "email", 0, T0)  # a second contact of the dwelling
    assert send(store, T0 + 1, fold_window_s=FOLD) == ["a-0"]


def test_a_storms_mails_share_one_thread(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    queue(store, "a-0", "dw-a")
    first = store.claim("hub-1", T0, fold_window_s=FOLD, thread_gap_s=600)
    assert first is not None and first.thread
    store.finish(first.id, OutboxStatus.SENT, T0)
    queue(store, "a-1", "dw-a", at=T0 + 10)
    second = store.claim("hub-1", T0 + 200, fold_window_s=FOLD, thread_gap_s=600)
    assert second is not None and second.thread == first.thread
    store.finish(second.id, OutboxStatus.SENT, T0 + 200)
    queue(store, "a-2", "dw-a", at=T0 + 5000)  # long after: a new thread
    third = store.claim("hub-1", T0 + 5000, fold_window_s=FOLD, thread_gap_s=600)
    assert third is not None and third.thread != first.thread


def test_open_count_counts_the_edges_unacknowledged_alarms_of_one_dwelling(
    sql_engine: Engine,
) -> None:
    store = AlarmStore(sql_engine)
    for i in range(3):
        store.insert_alarm(alarm(f"a-{i}", "dw-a"))
    store.insert_alarm(alarm("b-0", "dw-b"))
    store.insert_alarm(replace(alarm("a-done", "dw-a"), state=AlarmState.RESOLVED))
    # Taken on by the family, never closed: it does not hold the dwelling's next alarm up.
    store.insert_alarm(replace(alarm("a-taken", "dw-a"), state=AlarmState.ACKNOWLEDGED))
    store.insert_alarm(replace(alarm("a-tech", "dw-a"), source="hub"), tech_key="offline")
    assert store.open_count("dw-a") == 3
    assert store.open_count("dw-b") == 1
    assert store.open_count("dw-none") == 0


def test_open_count_is_an_indexed_count_on_sqlite(tmp_path: Path) -> None:
    engine = ops_engine(tmp_path)
    with engine.connect() as conn:  # the COUNT uses the index, not a scan of every alarm
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM alarms WHERE dwelling=? AND state IN (?,?) "
            "AND source='edge'",
            ("dw-a", "raised", "notified"),
        ).all()
    engine.dispose()
    assert any("ix_alarms_dwelling_state" in str(r[-1]) for r in plan), plan
