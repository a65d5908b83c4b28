"""One suite for the per-customer state backends: flow storage, reply cache and customer lock.

`TestStateBackend` runs against the in-process implementations and against the Redis ones on a
real Redis. Time is moved per backend: the memory classes take a monotonic clock; for Redis the
remaining TTL of every key the test wrote is shortened, which is what time passing does there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.conversation.dedup import MemoryReplyCache, RedisReplyCache, ReplyCache
from bot.conversation.storage import (
    EXPIRED_HINT_TTL_SECONDS,
    FLOW_TTL_SECONDS,
    HANDLED_RECENTLY_SECONDS,
    LOCK_TIMEOUT_SECONDS,
    REPLY_TTL_SECONDS,
    FlowState,
    FlowStorage,
    Held,
    KeyBuilder,
    MemoryFlowStorage,
    RedisFlowStorage,
)
from bot.redis_pipeline import RedisPipeline

BINDING = FlowState(
    flow="bind",
    step="plate",
    data={
        "phone": "13812345678",
        "name": "张先生",
        "_choices": [["sz01", "深圳福田4S店"], ["gz02", "广州天河店"]],
    },
    failures=1,
)


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class StateBackend:
    flows: FlowStorage
    replies: ReplyCache
    advance: Callable[[float], Awaitable[None]]  # let this many seconds pass


@pytest_asyncio.fixture
async def memory_backend() -> StateBackend:
    clock = ManualMonotonic()

    async def advance(seconds: float) -> None:
        clock.now += seconds

    replies = MemoryReplyCache(clock)
    return StateBackend(MemoryFlowStorage(replies.store, clock), replies, advance)


@pytest_asyncio.fixture
async def redis_client(redis_server: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_server)
    yield redis
    await redis.aclose()


@pytest.fixture
def keys() -> KeyBuilder:
    """A prefix of this test's own, so tests (and test sessions) sharing a Redis never meet."""
    return KeyBuilder(prefix=f"test-{uuid.uuid4().hex[:12]}")


@pytest_asyncio.fixture
async def redis_backend(redis_client: Redis, keys: KeyBuilder) -> AsyncIterator[StateBackend]:
    async def advance(seconds: float) -> None:
        async for key in redis_client.scan_iter(f"{keys.prefix}:*"):
            left = await redis_client.pttl(key)
            if left < 0:  # no expiry set
                continue
            if left <= seconds * 1000:
                await redis_client.delete(key)
            else:
                await redis_client.pexpire(key, left - int(seconds * 1000))

    pipeline = RedisPipeline(redis_client)
    flows = RedisFlowStorage(pipeline, keys)
    yield StateBackend(flows, RedisReplyCache(pipeline, flows, keys), advance)
    stale = [key async for key in redis_client.scan_iter(f"{keys.prefix}:*")]
    if stale:
        await redis_client.delete(*stale)


async def expired_flow(flows: FlowStorage, openid: str) -> str | None:
    """What the engine learns from holding the customer's flow: the flow that timed out, once."""
    async with flows.hold(openid) as held:
        return held.pop_expired()


# The values are the app configurations the CI guard counts passes by (tests/ci_guard.py).
IMPLEMENTATIONS = {"sqlite": "memory_backend", "postgres": "redis_backend"}


@pytest.fixture(params=list(IMPLEMENTATIONS), ids=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> StateBackend:
    return request.getfixturevalue(IMPLEMENTATIONS[request.param])


def test_flow_state_json_round_trip_keeps_chinese_readable() -> None:
    raw = BINDING.to_json()

    assert "深圳福田4S店" in raw  # stored as text, not \\u escapes
    assert FlowState.from_json(raw) == BINDING
    assert FlowState.from_json(raw.encode()) == BINDING


class TestStateBackend:
    # --- flow storage ---------------------------------------------------------------------------

    async def test_get_set_clear(self, state: StateBackend) -> None:
        assert await state.flows.get("o-1") is None

        await state.flows.set("o-1", BINDING)
        await state.flows.set("o-2", FlowState("advisor", "start"))

        assert await state.flows.get("o-1") == BINDING
        await state.flows.clear("o-1")
        assert await state.flows.get("o-1") is None
        assert await state.flows.get("o-2") == FlowState("advisor", "start")

    async def test_flow_lives_thirty_minutes_after_the_last_answer(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)
        await state.advance(FLOW_TTL_SECONDS - 60)
        assert await state.flows.get("o-1") == BINDING

        await state.flows.set("o-1", BINDING.at("done"))  # an answer: the 30 minutes start again
        await state.advance(FLOW_TTL_SECONDS - 60)
        assert await state.flows.get("o-1") == BINDING.at("done")

        await state.advance(61)
        assert await state.flows.get("o-1") is None

    async def test_expired_flow_is_named_once(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)
        assert await expired_flow(state.flows, "o-1") is None  # still running: nothing expired

        await state.advance(FLOW_TTL_SECONDS + 1)

        assert await expired_flow(state.flows, "o-1") == "bind"
        assert await expired_flow(state.flows, "o-1") is None

    async def test_expiry_hint_waits_for_a_message_that_tells_it(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)
        await state.advance(FLOW_TTL_SECONDS + 1)

        async with state.flows.hold("o-1"):
            pass  # a menu click or an event: nothing told
        with pytest.raises(RuntimeError):
            async with state.flows.hold("o-1") as held:
                held.pop_expired()
                raise RuntimeError("handler failed")  # told, but the reply never went out

        assert await expired_flow(state.flows, "o-1") == "bind"

    async def test_a_flow_that_ended_normally_leaves_no_expiry_hint(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)
        await state.flows.clear("o-1")
        await state.advance(FLOW_TTL_SECONDS + 1)

        assert await expired_flow(state.flows, "o-1") is None

    async def test_a_hold_is_told_when_another_of_the_customer_ended_just_now(
        self, state: StateBackend
    ) -> None:
        async with state.flows.hold("o-1") as first:
            assert not first.handled_recently
        async with state.flows.hold("o-1") as second:
            assert second.handled_recently
        assert await state.replies.claim("msg-3", "o-1")  # in Redis the claim takes the flow
        async with state.flows.hold("o-1") as taken_at_claim:
            assert taken_at_claim.handled_recently
        async with state.flows.hold("o-2") as other_customer:
            assert not other_customer.handled_recently

        await state.advance(HANDLED_RECENTLY_SECONDS + 1)
        async with state.flows.hold("o-1") as once_the_window_passed:
            assert not once_the_window_passed.handled_recently

    async def test_a_failed_hold_counts_as_handled(self, state: StateBackend) -> None:
        with pytest.raises(RuntimeError):
            async with state.flows.hold("o-1"):
                raise RuntimeError("the handler failed after changing the sender")
        async with state.flows.hold("o-1") as after_failure:
            assert after_failure.handled_recently

    async def test_expiry_hint_is_forgotten_after_a_day(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)
        await state.advance(EXPIRED_HINT_TTL_SECONDS + 1)

        assert await expired_flow(state.flows, "o-1") is None

    # --- reply cache ----------------------------------------------------------------------------

    async def test_only_the_first_claim_wins(self, state: StateBackend) -> None:
        claims = await asyncio.gather(*(state.replies.claim("msg-1", "o-1") for _ in range(5)))

        assert sorted(claims) == [False, False, False, False, True]
        assert await state.replies.claim("msg-2", "o-1") is True

    async def test_concurrent_waiters_get_the_stored_bytes(self, state: StateBackend) -> None:
        reply = "<xml><Content><![CDATA[请回复车牌号]]></Content></xml>".encode()
        assert await state.replies.claim("msg-1", "o-1")
        waiters = [asyncio.create_task(state.replies.wait("msg-1", 5)) for _ in range(3)]
        done, _ = await asyncio.wait(waiters, timeout=0.05)
        assert not done  # nothing stored yet: they wait

        await state.replies.store("msg-1", reply)

        assert await asyncio.gather(*waiters) == [reply, reply, reply]
        assert await state.replies.wait("msg-1", 5) == reply  # a later retry

    async def test_wait_gives_up_after_its_timeout(self, state: StateBackend) -> None:
        assert await state.replies.claim("msg-1", "o-1")

        assert await state.replies.wait("msg-1", 0.05) is None

    async def test_a_claim_is_kept_for_an_hour(self, state: StateBackend) -> None:
        assert await state.replies.claim("msg-1", "o-1")
        await state.replies.store("msg-1", b"success")
        await state.advance(REPLY_TTL_SECONDS - 60)
        assert not await state.replies.claim("msg-1", "o-1")

        await state.advance(REPLY_TTL_SECONDS)
        assert await state.replies.claim("msg-1", "o-1")

    # --- holding a customer's flow ---------------------------------------------------------------

    async def test_hold_reads_the_flow_and_keeps_what_the_handler_left(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)

        async with state.flows.hold("o-1") as held:
            assert held.flow == BINDING
            held.flow = BINDING.at("plate", phone="13900000000")
        async with state.flows.hold("o-2") as held:
            assert held.flow is None
            held.flow = FlowState("advisor", "start")

        assert await state.flows.get("o-1") == BINDING.at("plate", phone="13900000000")
        assert await state.flows.get("o-2") == FlowState("advisor", "start")

    async def test_a_flow_ended_in_a_hold_is_cleared_with_its_expiry_hint(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)

        async with state.flows.hold("o-1") as held:
            held.flow = None
        await state.advance(FLOW_TTL_SECONDS + 1)

        assert await state.flows.get("o-1") is None
        assert await expired_flow(state.flows, "o-1") is None

    async def test_a_hold_that_raises_changes_nothing(self, state: StateBackend) -> None:
        await state.flows.set("o-1", BINDING)

        with pytest.raises(RuntimeError):
            async with state.flows.hold("o-1") as held:
                held.flow = None
                raise RuntimeError("handler failed")

        assert await state.flows.get("o-1") == BINDING
        async with asyncio.timeout(2), state.flows.hold("o-1"):
            pass  # and the hold was given back

    async def test_lock_lets_one_customers_messages_through_in_arrival_order(
        self, state: StateBackend
    ) -> None:
        order: list[int] = []

        async def message(n: int) -> None:
            async with state.flows.hold("o-1"):
                order.append(n)
                await asyncio.sleep(0.002)  # a little work while holding the lock

        async with state.flows.hold("o-1"):
            queued = [asyncio.create_task(message(n)) for n in range(8)]
            await asyncio.sleep(0)  # they all start and queue behind the holder
        await asyncio.gather(*queued)

        assert order == list(range(8))

    async def test_a_holder_that_outlives_the_lock_timeout_still_finishes(self, state: StateBackend) -> None:
        async with state.flows.hold("o-1"):
            await state.advance(LOCK_TIMEOUT_SECONDS + 1)  # a very slow handler

        async with asyncio.timeout(2), state.flows.hold("o-1"):
            pass  # and the customer's next message is not stuck

    async def test_a_reply_kept_with_the_flow_is_what_retries_get(self, state: StateBackend) -> None:
        assert await state.replies.claim("msg-1", "o-1")
        retry = asyncio.create_task(state.replies.wait("msg-1", 5))

        async with state.flows.hold("o-1") as held:
            held.flow = BINDING
            held.reply = ("msg-1", b"<xml>reply</xml>")

        assert await retry == b"<xml>reply</xml>"
        assert await state.flows.get("o-1") == BINDING

    async def test_the_first_answer_stays(self, state: StateBackend) -> None:
        """A handler that overran was answered `success`; its late reply does not replace that."""
        assert await state.replies.claim("msg-1", "o-1")
        assert await state.replies.store("msg-1", b"success") == b"success"

        async with state.flows.hold("o-1") as held:
            held.reply = ("msg-1", b"<xml>late</xml>")

        assert await state.replies.store("msg-1", b"<xml>again</xml>") == b"success"
        assert await state.replies.wait("msg-1", 5) == b"success"
        assert await state.replies.store("msg-never-claimed", b"<xml>lost</xml>") is None

    async def test_a_failed_handler_keeps_no_reply(self, state: StateBackend) -> None:
        assert await state.replies.claim("msg-1", "o-1")

        with pytest.raises(RuntimeError):
            async with state.flows.hold("o-1") as held:
                held.reply = ("msg-1", b"<xml>half done</xml>")
                raise RuntimeError("handler failed")

        assert await state.replies.wait("msg-1", 0.05) is None

    async def test_lock_does_not_hold_up_other_customers(self, state: StateBackend) -> None:
        async with state.flows.hold("o-1"):
            async with asyncio.timeout(2):
                async with state.flows.hold("o-2"):
                    pass


async def test_redis_lock_excludes_across_processes(redis_server: str, keys: KeyBuilder) -> None:
    """Two RedisFlowStorage instances on their own connections stand in for two bot processes."""
    first, second = Redis.from_url(redis_server), Redis.from_url(redis_server)
    try:
        locks = [RedisFlowStorage(RedisPipeline(r), keys).hold for r in (first, second)]
        inside, most_inside = 0, 0

        async def message(lock: Callable[[str], AbstractAsyncContextManager[Held]]) -> None:
            nonlocal inside, most_inside
            async with lock("o-1"):
                inside += 1
                most_inside = max(most_inside, inside)
                await asyncio.sleep(0.005)  # work while holding the lock
                inside -= 1

        async with locks[0]("o-1"):
            blocked = asyncio.create_task(message(locks[1]))
            done, _ = await asyncio.wait({blocked}, timeout=0.2)
            assert not done  # the other process waits for the holder
        await asyncio.wait_for(blocked, 5)

        await asyncio.gather(*(message(locks[n % 2]) for n in range(10)))
        assert most_inside == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_reply_claim_is_shared_across_processes(redis_server: str, keys: KeyBuilder) -> None:
    first, second = Redis.from_url(redis_server), Redis.from_url(redis_server)
    try:
        pipelines = [RedisPipeline(r) for r in (first, second)]
        caches = [RedisReplyCache(p, RedisFlowStorage(p, keys), keys) for p in pipelines]

        assert await caches[0].claim("msg-1", "o-1")
        assert not await caches[1].claim("msg-1", "o-1")
        waiting = asyncio.create_task(caches[1].wait("msg-1", 5))
        await caches[0].store("msg-1", b"<xml>reply</xml>")
        assert await waiting == b"<xml>reply</xml>"
    finally:
        await first.aclose()
        await second.aclose()


class CountedRuns(RedisPipeline):
    """A pipeline that counts its script runs: the round trips a hold makes."""

    runs = 0

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return await super().run(*args, **kwargs)


async def test_a_message_costs_two_trips_claim_with_flow_and_reply_with_flow(
    redis_client: Redis, redis_server: str, keys: KeyBuilder
) -> None:
    pipeline = CountedRuns(redis_client)
    flows = RedisFlowStorage(pipeline, keys)
    replies = RedisReplyCache(pipeline, flows, keys)
    second = Redis.from_url(redis_server)
    other_instance = RedisFlowStorage(RedisPipeline(second), keys)
    try:
        await flows.set("o-1", BINDING)
        assert await replies.claim("msg-1", "o-1")
        assert await replies.claim("msg-2", "o-1")  # the customer's next message, flow busy

        async def other_instance_reads() -> FlowState | None:
            async with other_instance.hold("o-1") as held:
                return held.flow

        elsewhere = asyncio.create_task(other_instance_reads())
        done, _ = await asyncio.wait({elsewhere}, timeout=0.1)
        assert not done, "the claim took the customer's flow: another instance waits"

        trips = pipeline.runs
        async with flows.hold("o-1") as held:
            assert pipeline.runs == trips, "the first hold starts with the flow taken at claim"
            assert held.flow == BINDING
            held.flow, held.reply = BINDING.at("confirm"), ("msg-1", b"<xml>reply</xml>")
        assert pipeline.runs == trips + 1, "flow and reply kept in one trip"
        assert await replies.wait("msg-1", 1) == b"<xml>reply</xml>"
        trips = pipeline.runs
        async with flows.hold("o-1") as held:  # msg-2 takes the flow itself, and sees msg-1's change
            assert pipeline.runs > trips
            assert held.flow == BINDING.at("confirm")
        assert await asyncio.wait_for(elsewhere, 5) == BINDING.at("confirm")
    finally:
        await second.aclose()


async def test_a_flow_taken_at_claim_is_not_used_once_its_lock_may_have_lapsed(
    redis_client: Redis, keys: KeyBuilder
) -> None:
    """A claim whose hold never came (its task cancelled) leaves its lock to lapse; a later hold
    must take the flow afresh, not trust what the claim read."""
    clock = ManualMonotonic()
    pipeline = RedisPipeline(redis_client)
    flows = RedisFlowStorage(pipeline, keys, monotonic=clock)
    assert await RedisReplyCache(pipeline, flows, keys).claim("msg-1", "o-1")

    clock.now += LOCK_TIMEOUT_SECONDS
    await redis_client.delete(keys("lock", "o-1"))  # lapsed
    await RedisFlowStorage(pipeline, keys).set("o-1", BINDING)  # written meanwhile

    async with flows.hold("o-1") as held:
        assert held.flow == BINDING


async def test_a_holder_whose_lock_lapsed_leaves_the_next_holders_lock_alone(
    redis_client: Redis, redis_server: str, keys: KeyBuilder
) -> None:
    """Each hold's lock token is its own, in every instance: a slow holder whose lock lapsed, and
    which another instance then took, gives its flow back without unlocking the new holder."""
    second = Redis.from_url(redis_server)
    instances = [RedisFlowStorage(RedisPipeline(r), keys) for r in (redis_client, second)]
    lock = keys("lock", "o-1")
    try:
        async with AsyncExitStack() as slow, AsyncExitStack() as next_holder:
            await slow.enter_async_context(instances[0].hold("o-1"))
            await redis_client.delete(lock)  # lapsed while the slow holder was still working
            await next_holder.enter_async_context(instances[1].hold("o-1"))
            taken_by_next = await redis_client.get(lock)
            await slow.aclose()
            assert await redis_client.get(lock) == taken_by_next
        assert await redis_client.get(lock) is None
    finally:
        await second.aclose()
