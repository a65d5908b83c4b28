"""RedisPipeline: concurrent callers share round trips, yet each gets its own result or error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from bot.redis_pipeline import RedisPipeline

KEY = f"test-pipeline-{uuid.uuid4().hex[:12]}"  # this session's own; each test deletes what it made


@pytest_asyncio.fixture
async def pipeline(redis_server: str) -> AsyncIterator[RedisPipeline]:
    pipeline = RedisPipeline.from_url(redis_server)
    yield pipeline
    await pipeline.aclose()


async def test_concurrent_commands_share_round_trips_and_keep_their_order(
    pipeline: RedisPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_trips = 0
    send = AbstractConnection.send_packed_command

    async def counted(connection: AbstractConnection, *args: Any, **options: Any) -> None:
        nonlocal round_trips
        round_trips += 1
        await send(connection, *args, **options)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)

    counts = await asyncio.gather(*(pipeline.execute("INCR", KEY) for _ in range(100)))

    assert counts == list(range(1, 101))
    assert round_trips < 100 / 4
    await pipeline.execute("DEL", KEY)


async def test_text_numbers_and_bytes_arrive_as_sent(pipeline: RedisPipeline) -> None:
    await pipeline.execute("SET", KEY, "粤B12345 明天上午", "EX", 60)
    await pipeline.execute("HSET", f"{KEY}:h", "bytes", b"\x00\xff", "int", 7, "float", 1.5)

    assert await pipeline.execute("GET", KEY) == "粤B12345 明天上午".encode()
    assert await pipeline.execute("TTL", KEY) == 60
    stored = await pipeline.execute("HGETALL", f"{KEY}:h")
    assert stored == {b"bytes": b"\x00\xff", b"int": b"7", b"float": b"1.5"}  # a RESP3 map
    await pipeline.execute("DEL", KEY, f"{KEY}:h")


async def test_a_failing_command_fails_only_its_caller(pipeline: RedisPipeline) -> None:
    await pipeline.execute("SET", KEY, "not a number")

    results = await asyncio.gather(
        pipeline.execute("GET", KEY),
        pipeline.execute("INCR", KEY),
        pipeline.execute("STRLEN", KEY),
        return_exceptions=True,
    )

    assert results[0] == b"not a number"
    assert isinstance(results[1], ResponseError)
    assert results[2] == len("not a number")
    await pipeline.execute("DEL", KEY)


async def test_scripts_load_on_first_use_and_after_a_flush(pipeline: RedisPipeline) -> None:
    script = pipeline.script(f"-- {KEY}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")

    assert await pipeline.run(script, [KEY], [2]) == 2
    await pipeline.redis.script_flush()
    assert await pipeline.run(script, [KEY], [3]) == 5
    await pipeline.execute("DEL", KEY)


async def test_a_batch_past_its_deadline_fails_and_the_next_one_works(redis_server: str) -> None:
    pipeline = RedisPipeline(RedisPipeline.from_url(redis_server).redis, timeout=0.2)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(TimeoutError):
                await pipeline.execute("BLPOP", KEY, 3)  # Redis answers after 3 s
            assert await pipeline.execute("PING") == b"PONG"
    finally:
        await pipeline.aclose()
