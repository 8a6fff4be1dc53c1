"""The alarm store's contract, on SQLite and on PostgreSQL (the `sql_engine` fixture):
nothing is lost across close and reopen, and several hub workers (an engine each) on one
database never both win a claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from alerts import lifecycle
from alerts.errors import ClaimedError, UnknownAlarmError
from alerts.model import AlarmKind, AlarmRecord, AlarmState, HandlingAction, Severity
from alerts.store import AlarmStore, OutboxStatus
from tests.ops_store import another_engine

T0 = 1_000_000.0


@pytest.fixture
def other(sql_engine: Engine) -> Iterator[Engine]:
    """A second hub worker's engine on the same database."""
    engine = another_engine(sql_engine)
    yield engine
    engine.dispose()


def alarm(alarm_id: str, received_at: float = T0) -> AlarmRecord:
    return AlarmRecord(
        id=alarm_id,
        dwelling="dw-001",
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=received_at - 1,
        received_at=received_at,
        sensor="pendant-1",
        detail={"button": 1, "ok": True, "where": "badkamer", "x": None},
    )


def test_reopen_after_close_loses_nothing(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    assert store.insert_alarm(alarm("alarm-0001"))
    assert not store.insert_alarm(alarm("alarm-0001"))  # idempotent on the id
    assert store.insert_alarm(alarm("alarm-0002", T0 + 5))
    store.update(
        "alarm-0002",
        lambda r: lifecycle.acknowledge(r, "anna", "onderweg", T0 + 9),
        at=T0 + 9,
        by="anna",
    )
    assert store.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    assert not store.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    sql_engine.dispose()  # every connection closed

    reopened = another_engine(sql_engine)
    store = AlarmStore(reopened)
    assert store.get("alarm-0001") == alarm("alarm-0001")  # every field, detail included
    acked = store.get("alarm-0002")
    assert acked is not None and acked.state is AlarmState.ACKNOWLEDGED
    assert (acked.acknowledged_at, acked.acknowledged_by, acked.note) == (
        T0 + 9,
        "anna",
        "onderweg",
    )
    assert [a.id for a in store.open_alarms()] == ["alarm-0002", "alarm-0001"]  # newest first
    assert [a.id for a in store.unacknowledged()] == ["alarm-0001"]
    assert [(r.alarm_id, r.status) for r in store.outbox()] == [
        ("alarm-0001", OutboxStatus.PENDING)
    ]
    assert [w for _, w, _, _ in store.log("alarm-0002")] == ["raised", "acknowledged"]
    reopened.dispose()


def test_claim_is_exclusive_and_leases_expire_to_unknown(sql_engine: Engine, other: Engine) -> None:
    a, b = AlarmStore(sql_engine), AlarmStore(other)  # two hub workers on one database
    a.insert_alarm(alarm("alarm-0001"))
    a.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    row = a.claim("hub-a", T0)
    assert row is not None and row.status is OutboxStatus.SENDING and row.attempts == 1
    assert b.claim("hub-b", T0) is None
    assert b.expire_leases(older_than=T0 - 1, now=T0 + 1) == []  # lease still fresh
    expired = b.expire_leases(older_than=T0 + 1, now=T0 + 200)
    assert [(r.id, r.status, r.claimed_by) for r in expired] == [
        (row.id, OutboxStatus.UNKNOWN, "hub-a")
    ]
    a.finish(row.id, OutboxStatus.SENT, T0 + 201)  # too late: the row is no longer 'sending'
    assert [r.status for r in b.outbox()] == [OutboxStatus.UNKNOWN]


def test_one_open_technical_alarm_per_key(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    first = AlarmRecord(
        id="t-1", dwelling="dw-001", kind=AlarmKind.TECHNICAL, severity=Severity.LOW,
        state=AlarmState.RAISED, source="hub", raised_at=T0, received_at=T0,
    )  # fmt: skip
    assert store.insert_alarm(first, tech_key="offline")
    second = replace(first, id="t-2")
    assert not store.insert_alarm(second, tech_key="offline")
    store.update("t-1", lambda r: lifecycle.resolve(r, "hub", "", T0 + 1), at=T0 + 1, by="hub")
    assert store.insert_alarm(second, tech_key="offline")  # the old one is closed


def test_a_claim_and_the_handling_are_kept_with_author_contact_and_time(
    sql_engine: Engine, other: Engine
) -> None:
    store = AlarmStore(sql_engine)
    store.insert_alarm(alarm("alarm-0001"))
    store.update(
        "alarm-0001",
        lambda r: lifecycle.as_operator(
            r,
            "jan",
            "record an action",
            T0 + 5,
            lambda h: lifecycle.handling_action(h, HandlingAction.CALLED_CONTACT),
        ),
        at=T0 + 5,
        by="jan",
        note="voicemail ingesproken",
        contact="c-anna",
    )
    store.update(
        "alarm-0001",
        lambda r: lifecycle.claim(r, "anja", T0 + 9, take_over=True),
        at=T0 + 9,
        by="anja",
    )

    store = AlarmStore(other)  # what another worker reads
    rec = store.get("alarm-0001")
    assert rec is not None and (rec.claimed_by, rec.claimed_at) == ("anja", T0 + 9)
    assert [(e.at, e.what, e.by, e.note, e.contact) for e in store.timeline("alarm-0001")] == [
        (T0 - 1, "raised_at_source", "edge", "", None),
        (T0, "received", "edge", "", None),
        (T0 + 5, "claimed", "jan", "", None),  # taken implicitly by the action
        (T0 + 5, "called_contact", "jan", "voicemail ingesproken", "c-anna"),
        (T0 + 9, "taken_over", "anja", "overgenomen van jan", None),
    ]


def race(stores: tuple[AlarmStore, AlarmStore], alarm_id: str) -> tuple[str, ClaimedError]:
    """ "jan" (through the first store) and "anja" (the second) claim at the same moment;
    returns the winner and the loser's error (fails unless exactly one wins)."""
    start = threading.Barrier(2)
    won: list[str] = []
    lost: list[ClaimedError] = []

    def claim(store: AlarmStore, who: str) -> None:
        start.wait(timeout=10)
        try:
            store.update(alarm_id, lambda r: lifecycle.claim(r, who, T0 + 1), at=T0 + 1, by=who)
            won.append(who)
        except ClaimedError as exc:
            lost.append(exc)

    threads = [
        threading.Thread(target=claim, args=(store, who))
        for store, who in zip(stores, ("jan", "anja"), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(won) == 1 and len(lost) == 1, (won, lost)
    return won[0], lost[0]


def test_two_workers_claiming_at_once_exactly_one_wins(sql_engine: Engine, other: Engine) -> None:
    a, b = AlarmStore(sql_engine), AlarmStore(other)  # two hub workers: an engine each
    for n in range(25):
        alarm_id = f"alarm-{n:04d}"
        a.insert_alarm(alarm(alarm_id))
        winner, error = race((a, b), alarm_id)
        assert error.holder == winner
        rec = b.get(alarm_id)
        assert rec is not None and rec.claimed_by == winner
        assert [e.what for e in a.timeline(alarm_id)].count("claimed") == 1


def test_a_claim_needs_the_alarm(sql_engine: Engine) -> None:
    store = AlarmStore(sql_engine)
    with pytest.raises(UnknownAlarmError):
        store.update("nope", lambda r: lifecycle.claim(r, "jan", T0), at=T0, by="jan")


# -- the outbox with several workers ------------------------------------------------------

Claim = Callable[[AlarmStore, str], list[int]]


def drain(stores: Sequence[AlarmStore], claim_one: Claim) -> list[list[int]]:
    """Each store claims on a thread of its own, all starting at once, until nothing is
    pending; the outbox row ids each one took (fails on any worker's error)."""
    start = threading.Barrier(len(stores))
    taken: list[list[int]] = [[] for _ in stores]
    errors: list[BaseException] = []

    def work(i: int, store: AlarmStore) -> None:
        try:
            start.wait(timeout=10)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ids = claim_one(store, f"hub-{i}")
                if ids:
                    taken[i].extend(ids)
                elif store.outbox_counts().get("pending", 0) == 0:
                    return
            raise AssertionError("rows still pending after 60 s")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    return taken


def queue_storm(store: AlarmStore, channel: str = "email") -> set[int]:
    """60 notifications due at T0: 6 dwellings, 2 contacts each, 5 alarms per dwelling."""
    for d in range(6):
        for n in range(5):
            rec = replace(alarm(f"a-{d}-{n}", T0 - 10 + n), dwelling=f"dw-{d:03d}")
            assert store.insert_alarm(rec)
            for contact in ("c-anna", "c-bob"):
                assert store.enqueue(rec.id, f"{contact}-{d}", channel, 0, T0 - 10 + n)
    return {r.id for r in store.outbox()}


@pytest.mark.parametrize("fold_window_s", [0.0, 120.0], ids=["one-by-one", "folded"])
def test_two_workers_claiming_the_outbox_never_take_the_same_row(
    sql_engine: Engine, other: Engine, fold_window_s: float
) -> None:
    a, b = AlarmStore(sql_engine), AlarmStore(other)
    queued = queue_storm(a)

    def send(store: AlarmStore, worker: str) -> list[int]:
        row = store.claim(worker, T0, fold_window_s=fold_window_s)
        if row is None:
            return []
        mail = [r.id for r in store.batch(row.id)]
        store.finish_all(mail, OutboxStatus.SENT, T0)
        return mail

    taken = drain((a, b), send)
    every = taken[0] + taken[1]
    assert sorted(every) == sorted(queued)  # each row sent, none twice
    assert {r.status for r in a.outbox()} == {OutboxStatus.SENT}
    assert all(r.attempts == 1 for r in a.outbox())


def test_two_workers_on_the_alarm_centres_lane_never_take_the_same_row(
    sql_engine: Engine, other: Engine
) -> None:
    a, b = AlarmStore(sql_engine), AlarmStore(other)
    queued = queue_storm(a, channel="dc09")

    def send(store: AlarmStore, worker: str) -> list[int]:
        row = store.claim_channel("dc09", worker, T0, after_round=99)
        if row is None:
            return []
        store.finish(row.id, OutboxStatus.SENT, T0)
        return [row.id]

    taken = drain((a, b), send)
    assert sorted(taken[0] + taken[1]) == sorted(queued)


def test_a_dead_senders_rows_are_expired_by_one_worker_each(
    sql_engine: Engine, other: Engine
) -> None:
    a, b = AlarmStore(sql_engine), AlarmStore(other)
    queued = queue_storm(a)
    while a.claim("hub-dead", T0) is not None:
        pass
    start = threading.Barrier(2)
    expired: list[list[int]] = [[], []]

    def expire(i: int, store: AlarmStore) -> None:
        start.wait(timeout=10)
        expired[i] = [r.id for r in store.expire_leases(older_than=T0 + 1, now=T0 + 300)]

    threads = [threading.Thread(target=expire, args=(i, s)) for i, s in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Each row once, to one worker: only one of them logs and warns about it.
    assert sorted(expired[0] + expired[1]) == sorted(queued)
    assert {r.status for r in b.outbox()} == {OutboxStatus.UNKNOWN}
