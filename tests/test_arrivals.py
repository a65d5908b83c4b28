"""Arrivals: messages logged and followers loaded in shared transactions, and still one by one
in effect: each message logged once, each follower created once, a bad batch never failing the
good messages in it."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from bot.clock import FrozenClock
from bot.conversation.messages import Incoming, Kind
from bot.models import Follower, InboundMessage
from bot.services import arrivals
from bot.services.arrivals import Arrivals
from tests import factories
from tests.backends import Backend

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def text(openid: str, key: str, content: str = "你好") -> Incoming:
    return Incoming(key=key, openid=openid, account="gh_test", kind=Kind.TEXT, created_at=NOW, text=content)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of each batch written, in order (the real writer still does the writing)."""
    written: list[list[str]] = []
    write_batch = arrivals.write_batch

    async def counted(messages: list[Incoming], *how: Any) -> dict[str, Follower]:
        written.append([message.key for message in messages])
        return await write_batch(messages, *how)

    monkeypatch.setattr(arrivals, "write_batch", counted)
    return written


async def test_concurrent_arrivals_share_transactions_and_each_is_kept_once(
    db: Backend, batches: list[list[str]]
) -> None:
    admitted = Arrivals(FrozenClock(NOW))
    messages = [text(f"o-{n}", f"k-{n}") for n in range(60)]

    followers = await asyncio.gather(*(admitted.admit(message) for message in messages))

    assert [follower.openid for follower in followers] == [message.openid for message in messages]
    assert all(follower.subscribed_at == NOW and follower.customer is None for follower in followers)
    assert await InboundMessage.all().count() == 60
    assert await Follower.all().count() == 60
    assert sorted(key for batch in batches for key in batch) == sorted(m.key for m in messages)
    assert len(batches) < 60 / 4, "arrivals waiting for a write go in the next one together"


async def test_quiet_bot_writes_each_message_at_once(db: Backend, batches: list[list[str]]) -> None:
    admitted = Arrivals(FrozenClock(NOW))

    await admitted.admit(text("o-1", "k-1"))
    await admitted.admit(text("o-1", "k-2"))

    assert batches == [["k-1"], ["k-2"]]
    assert await Follower.all().count() == 1


async def test_a_retried_message_is_logged_once(db: Backend) -> None:
    admitted = Arrivals(FrozenClock(NOW))

    first = await admitted.admit(text("o-1", "k-1"))
    again = await admitted.admit(text("o-1", "k-1", content="你好 (retry)"))

    assert first.id == again.id
    assert await InboundMessage.filter(key="k-1").values_list("body", flat=True) == [
        {"type": "text", "text": "你好"}
    ]


async def test_bound_follower_arrives_with_customer_and_advisor_loaded(db: Backend) -> None:
    shop = await factories.store()
    advisor = await factories.staff(shop)
    customer, _ = await factories.customer_with_car(shop, advisor=advisor)
    await Follower.create(openid="o-bound", customer=customer, advisor=advisor)

    follower = await Arrivals(FrozenClock(NOW)).admit(text("o-bound", "k-1"))

    assert follower.customer is not None and follower.advisor is not None
    assert follower.customer.phone == customer.phone
    assert follower.customer.advisor.name == advisor.name
    assert follower.advisor.id == advisor.id


async def test_a_message_that_cannot_be_written_fails_alone(
    db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch = arrivals.write_batch

    async def refuse_poison(messages: list[Incoming], *how: Any) -> dict[str, Follower]:
        if any(message.openid == "o-poison" for message in messages):
            raise RuntimeError("cannot write")
        return await write_batch(messages, *how)

    monkeypatch.setattr(arrivals, "write_batch", refuse_poison)
    admitted = Arrivals(FrozenClock(NOW))
    messages = [text(f"o-{n}", f"k-{n}") for n in range(10)] + [text("o-poison", "k-poison")]

    results = await asyncio.gather(*(admitted.admit(m) for m in messages), return_exceptions=True)

    assert [type(result).__name__ for result in results] == ["Follower"] * 10 + ["RuntimeError"]
    assert await InboundMessage.all().count() == 10


async def test_an_admission_nobody_waits_for_fails_without_asyncio_reporting_it(
    db: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry's admission is left unawaited (its first copy is the one handled)."""

    async def refuse(_: Arrivals, batch: list[Incoming]) -> list[Follower | Exception]:
        return [RuntimeError("cannot write") for _ in batch]

    monkeypatch.setattr(Arrivals, "_write", refuse)
    admitted = weakref.ref(Arrivals(FrozenClock(NOW)).admit(text("o-retry", "k-retry")))
    async with asyncio.timeout(5):
        while admitted() is not None:  # until the writer is done with it and it is collected
            gc.collect()
            await asyncio.sleep(0)

    assert "never retrieved" not in caplog.text


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite has one writer at a time
async def test_a_follower_another_instance_creates_meanwhile_is_read_back(db: Backend) -> None:
    """PostgreSQL's single statement reads followers as of its start; one committed by another
    instance while it waited on that row's lock must still come back."""
    database = connections.get("default")
    pool = database._pool  # type: ignore[attr-defined]
    async with pool.acquire() as other_instance, other_instance.transaction():
        await other_instance.execute(
            'INSERT INTO "follower" (openid, subscribed, bind_failures, created_at) VALUES ($1, true, 0, $2)',
            "o-race",
            NOW,
        )
        admitting = Arrivals(FrozenClock(NOW)).admit(text("o-race", "k-race"))
        deadline = time.monotonic() + 10
        while not await _waiting_on_a_row_lock(database):
            assert time.monotonic() < deadline, "the arrival never waited for the other instance"
            await asyncio.sleep(0.01)
    follower = await admitting

    assert follower.openid == "o-race"
    assert await Follower.filter(openid="o-race").count() == 1
    assert await InboundMessage.filter(key="k-race").exists()


async def _waiting_on_a_row_lock(database: BaseDBAsyncClient) -> bool:
    rows = await database.execute_query_dict(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return rows[0]["n"] > 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_connection_dropped_under_load_loses_no_message(
    db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches written back to back share one connection; when PostgreSQL drops it, the batch on
    it is written again, and so is the next one queued meanwhile, on a new connection."""
    write_batch = arrivals.write_batch
    backends_used: list[int] = []
    first_in_flight, go_on = asyncio.Event(), asyncio.Event()

    async def drop_the_first_connection(messages: list[Incoming], now: datetime, write_rows: Any) -> Any:
        connection = write_rows.args[0]  # the writer's connection, bound into its row writer
        backends_used.append(connection.get_server_pid())
        if len(backends_used) == 1:
            async with pool.acquire() as other:
                await other.execute("SELECT pg_terminate_backend($1)", connection.get_server_pid())
            first_in_flight.set()
            await go_on.wait()
        return await write_batch(messages, now, write_rows)

    pool = connections.get("default")._pool  # type: ignore[attr-defined]
    monkeypatch.setattr(arrivals, "write_batch", drop_the_first_connection)
    admitted = Arrivals(FrozenClock(NOW))
    first = admitted.admit(text("o-1", "k-1"))
    await first_in_flight.wait()
    queued = [admitted.admit(text(f"o-{n}", f"k-{n}")) for n in range(2, 6)]
    await asyncio.sleep(0)  # they wait behind the batch in flight
    go_on.set()

    followers = await asyncio.gather(first, *queued)

    assert [follower.openid for follower in followers] == ["o-1", "o-2", "o-3", "o-4", "o-5"]
    assert backends_used[0] not in backends_used[1:], "the dropped connection was given up"
    assert await InboundMessage.all().count() == 5
