"""The DC-09 link on loopback against pysiaalarm's receiver (a real DC-09 implementation),
and against our AlarmCentre simulator for the answers pysiaalarm does not give.

pysiaalarm checks timestamps against the real clock (40 s back, 20 s ahead), so the link
runs on the real clock here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from pysiaalarm.account import SIAAccount
from pysiaalarm.aio.client import SIAClient
from pysiaalarm.event import SIAEvent as PeerEvent
from pysiaalarm.utils.enums import CommunicationsProtocol

from alerts.dc09.codec import SiaEvent, encode_event, encode_null, parse_response
from alerts.dc09.errors import Dc09DeliveryError
from alerts.dc09.link import Dc09Link, LinkSettings, LinkState, Receiver
from simulators.alarm_centre import AlarmCentre
from tests.servers import free_port, wait_until

pytestmark = pytest.mark.integration

KEY = "0123456789ABCDEF"  # pysiaalarm takes the key string's ASCII bytes as the AES key
PEER_ACCOUNTS = [SIAAccount("1234"), SIAAccount("AAA", KEY), SIAAccount("0000")]


@asynccontextmanager
async def pysia(port: int) -> AsyncIterator[list[PeerEvent]]:
    """pysiaalarm's TCP receiver on 127.0.0.1:port; yields the events it ACKed."""
    received: list[PeerEvent] = []

    async def on_event(event: PeerEvent) -> None:
        received.append(event)

    # Not `async with SIAClient`: its __aexit__ swallows exceptions, assertions too.
    # SIAClient picks its TCP subclass in __new__ (mypy sees only the abstract base).
    client = SIAClient(  # type: ignore[abstract]
        "127.0.0.1", port, PEER_ACCOUNTS, on_event, protocol=CommunicationsProtocol.TCP
    )
    await client.async_start()
    try:
        yield received
    finally:
        await client.async_stop()


def settings(primary: int, backup: int | None = None, **kw: object) -> LinkSettings:
    fast: dict[str, object] = {"ack_timeout_s": 2.0, "connect_timeout_s": 2.0, "backoff_s": 0.01}
    return LinkSettings(
        primary=Receiver("127.0.0.1", primary),
        backup=None if backup is None else Receiver("127.0.0.1", backup),
        keys={"AAA": KEY},
        **{**fast, **kw},  # type: ignore[arg-type]
    )


async def test_plain_and_encrypted_events_reach_pysiaalarm() -> None:
    port = free_port()
    async with pysia(port) as received:
        link = Dc09Link(settings(port))
        plain = await link.send(SiaEvent("1234", code=101, qualifier=1, zone=3), seq=1)
        encrypted = await link.send(SiaEvent("AAA", code=100, qualifier=1, zone=7), seq=2)
        restore = await link.send(SiaEvent("AAA", code=100, qualifier=3, zone=7), seq=3)
        await wait_until(lambda: len(received) == 3)

    assert plain.receiver == Receiver("127.0.0.1", port) and plain.attempts == 1
    assert encrypted.attempts == restore.attempts == 1
    got = [(e.account, e.sequence, e.encrypted, e.event_type, e.code, e.ri) for e in received]
    assert got == [
        ("1234", "0001", False, "101", "QA", "003"),  # personal emergency
        ("AAA", "0002", True, "100", "MA", "007"),  # medical, encrypted
        ("AAA", "0003", True, "100", "MH", "007"),  # medical restored
    ]
    state = link.state()
    assert state.reachable and state.last_ack_at == restore.acked_at


async def test_concurrent_sends_go_one_frame_at_a_time() -> None:
    # pysiaalarm loses two frames that arrive in one TCP read: the link must serialise.
    port = free_port()
    async with pysia(port) as received:
        link = Dc09Link(settings(port))
        sends = [link.send(SiaEvent("1234", 100, 1, zone), seq=zone) for zone in range(1, 9)]
        deliveries = await asyncio.gather(*sends)
        await wait_until(lambda: len(received) == 8)
    assert all(d.attempts == 1 for d in deliveries)
    assert sorted(int(str(e.ri)) for e in received) == list(range(1, 9))


async def test_null_link_tests_are_acked() -> None:
    port = free_port()
    async with pysia(port) as received:
        link = Dc09Link(settings(port, link_test_interval_s=0.05))
        stop = asyncio.Event()
        task = asyncio.create_task(link.run_link_tests(stop))
        try:
            await wait_until(lambda: len(received) >= 3)  # at once, then every interval
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
    assert {(e.message_type.value, e.account, e.code) for e in received} == {  # type: ignore[union-attr]
        ("NULL", "0000", "RP")
    }
    assert len({e.sequence for e in received}) == len(received)  # a new number each time
    assert link.state().reachable


async def test_encrypted_link_test() -> None:
    port = free_port()
    async with pysia(port) as received:
        link = Dc09Link(settings(port, link_test_account="AAA"))
        assert await link.link_test()
        await wait_until(lambda: len(received) == 1)
    assert received[0].encrypted and received[0].account == "AAA"


async def test_primary_down_backup_gets_it() -> None:
    primary, backup = free_port(), free_port()  # nothing listens on the primary
    async with pysia(backup) as received:
        link = Dc09Link(settings(primary, backup, attempts_per_receiver=2))
        delivery = await link.send(SiaEvent("1234", 101, 1, 1), seq=1)
        await wait_until(lambda: len(received) == 1)
    assert delivery.receiver == Receiver("127.0.0.1", backup)
    assert delivery.attempts == 3  # two on the primary, one on the backup
    assert link.state().receiver == Receiver("127.0.0.1", backup)


async def test_receiver_down_then_up(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    link = Dc09Link(settings(port))
    seen: list[LinkState] = []
    link.add_listener(seen.append)
    event = SiaEvent("AAA", 100, 1, 2)

    with (
        caplog.at_level(logging.WARNING, logger="alerts.dc09"),
        pytest.raises(Dc09DeliveryError) as err,
    ):
        await link.send(event, seq=1)
    assert err.value.retryable
    assert "connection refused" in str(err.value)
    assert not link.state().reachable and link.state().last_error == "connection refused"
    assert [s.reachable for s in seen] == [False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"127.0.0.1:{port}" in r.getMessage() for r in warnings)
    assert KEY not in caplog.text  # never the key

    async with pysia(port) as received:
        delivery = await link.send(event, seq=1)  # the same event, later
        await wait_until(lambda: len(received) == 1)
    assert delivery.attempts == 1
    assert received[0].encrypted and received[0].code == "MA"
    assert [s.reachable for s in seen] == [False, True]  # told of each change, once
    assert seen[-1].receiver == Receiver("127.0.0.1", port)


async def test_link_tests_notice_a_receiver_going_away_and_coming_back() -> None:
    port = free_port()
    link = Dc09Link(settings(port, link_test_interval_s=0.05))
    seen: list[bool] = []
    link.add_listener(lambda s: seen.append(s.reachable))
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        async with pysia(port):
            task = asyncio.create_task(link.run_link_tests(stop))
            await wait_until(lambda: seen == [True])
        await wait_until(lambda: seen == [True, False])
        async with pysia(port):
            await wait_until(lambda: seen == [True, False, True])
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 5)


# -- our simulator: the answers pysiaalarm does not give ------------------------------------


async def test_alarm_centre_simulator() -> None:
    centre = AlarmCentre(keys={"AAA": KEY}, accounts={"1234", "AAA", "0000"})
    port = await centre.start()
    try:
        link = Dc09Link(settings(port))
        await link.send(SiaEvent("1234", 101, 1, 1), seq=1)
        await link.send(SiaEvent("AAA", 654, 1, 0), seq=2)
        assert await link.link_test()

        with pytest.raises(Dc09DeliveryError) as err:  # DUH: an account it does not know
            await link.send(SiaEvent("BBBB", 101, 1, 1), seq=3)
        assert not err.value.retryable
        assert centre.duhs == 1
    finally:
        await centre.stop()
    assert [(e.account, e.seq, e.event.code, e.encrypted) for e in centre.events] == [
        ("1234", 1, 101, False),
        ("AAA", 2, 654, True),
    ]
    assert centre.link_tests == 1
    assert link.state().reachable  # a DUH is an answer: the link itself works


async def test_nak_for_a_stale_timestamp_is_retried_with_a_fresh_one() -> None:
    centre = AlarmCentre()
    port = await centre.start()
    calls = 0

    def clock() -> float:  # the first frame is stamped 100 s late, then the clock is right
        nonlocal calls
        calls += 1
        return time.time() - (100.0 if calls == 1 else 0.0)

    try:
        link = Dc09Link(settings(port), clock=clock)
        delivery = await link.send(SiaEvent("1234", 100, 1, 4), seq=1)

        skewed = Dc09Link(settings(port), clock=lambda: time.time() + 100.0)
        with pytest.raises(Dc09DeliveryError) as err:  # every attempt NAKed
            await skewed.send(SiaEvent("1234", 100, 1, 4), seq=2)
    finally:
        await centre.stop()
    assert delivery.attempts == 2
    assert err.value.retryable and "NAK" in str(err.value)
    assert centre.naks == 3 and len(centre.events) == 1
    assert not skewed.state().reachable


async def test_garbled_or_missing_answers_are_failed_attempts() -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        writer.write(b'"NAK"')  # pysiaalarm's unframed answer: no LF, CRC, length or CR
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1000):  # reads, never answers, until the link hangs up
            pass
        writer.close()
        await writer.wait_closed()

    bad = await asyncio.start_server(garble, "127.0.0.1", 0)
    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    centre = AlarmCentre()
    try:
        link = Dc09Link(
            settings(bad.sockets[0].getsockname()[1], await centre.start(), ack_timeout_s=0.2)
        )
        delivery = await link.send(SiaEvent("1234", 381, 1, 12), seq=1)
        assert delivery.attempts == 3 and delivery.receiver.port == centre.port

        link = Dc09Link(settings(mute.sockets[0].getsockname()[1], ack_timeout_s=0.2))
        with pytest.raises(Dc09DeliveryError, match=r"no answer within 0\.2 s") as err:
            await link.send(SiaEvent("1234", 381, 1, 12), seq=2)
        assert err.value.retryable
    finally:
        await centre.stop()
        for server in (bad, mute):
            server.close()
            await server.wait_closed()
    assert [e.event.code for e in centre.events] == [381]


async def test_alarm_centre_takes_frames_back_to_back_and_restarts_on_its_port() -> None:
    centre = AlarmCentre()
    port = await centre.start()
    try:
        now = datetime.now(UTC)
        frames = encode_event(
            SiaEvent("1234", 101, 1, 1), seq=1, receiver="0", prefix="0", at=now, key=None
        ) + encode_null(seq=2, receiver="0", prefix="0", account="0000", at=now, key=None)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frames + b"\n0000" + frames[5:20] + b"\r")  # two frames and a damaged one
        await writer.drain()
        answers = [await reader.readuntil(b"\r") for _ in range(3)]
        writer.close()
        await writer.wait_closed()
        kinds = [(r.kind, r.seq) for r in (parse_response(a, key=None) for a in answers)]
        assert kinds == [("ACK", 1), ("ACK", 2), ("NAK", None)]

        await centre.stop()
        assert not centre.running
        assert await centre.start() == port
        assert await Dc09Link(settings(port)).link_test()
    finally:
        await centre.stop()
    assert (len(centre.events), centre.link_tests, centre.naks) == (1, 2, 1)
