"""LocalLocks: one holder per key, waiters served in arrival order, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversation.locks import LocalLocks


async def test_holders_of_one_key_take_turns_in_arrival_order() -> None:
    locks, order = LocalLocks(), []

    async def hold(name: str, key: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(hold("a", "k"), hold("b", "k"), hold("c", "other"), hold("d", "k"))

    assert [step for step in order if step[0] != "c"] == ["a in", "a out", "b in", "b out", "d in", "d out"]
    assert order.index("c in") < order.index("a out"), "another key does not wait"
    assert not locks._locks


async def test_a_waiter_cancelled_in_the_queue_leaves_nothing_behind() -> None:
    locks = LocalLocks()
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("k"):
            first_in.set()
            await release.wait()

    holder = asyncio.create_task(first())
    await first_in.wait()
    waiter = asyncio.create_task(locks.hold("k").__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder

    assert not locks._locks
    async with locks.hold("k"):  # and the key can be held again
        pass


async def test_an_error_inside_releases_the_key() -> None:
    locks = LocalLocks()

    with pytest.raises(RuntimeError):
        async with locks.hold("k"):
            raise RuntimeError("handler failed")

    assert not locks._locks
