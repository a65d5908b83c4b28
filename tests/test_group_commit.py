"""Group commit: what batches written back to back share (their session) is taken once while
they keep coming, given up after a failure, and a session that cannot be had fails its batch
without stopping the writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from bot.group_commit import GroupCommit


class Sessions:
    """A session factory that counts what it hands out and can be told to refuse."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.current: int | None = None
        self.refusals = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("no session")
        self.opened += 1
        self.current = self.opened
        try:
            yield
        finally:
            self.closed += 1
            self.current = None


async def test_batches_written_back_to_back_share_one_session() -> None:
    sessions, used, (first, *later) = await _queued_behind_a_batch(1, [2, 3], lambda item: item * 10)

    assert await asyncio.gather(first, *later) == [10, 20, 30]
    assert used == [1, 1], "the second batch reused the first one's session"
    assert (sessions.opened, sessions.closed) == (1, 1), "given back once nothing more was queued"


async def test_a_failed_batch_gives_its_session_up_and_the_next_batch_takes_a_new_one() -> None:
    sessions, used, (failing, following) = await _queued_behind_a_batch(
        -1, [2], lambda item: ValueError(f"bad {item}") if item < 0 else item
    )

    with pytest.raises(ValueError, match="bad -1"):
        await failing
    assert await following == 2
    assert used == [1, 2]
    assert (sessions.opened, sessions.closed) == (2, 2)


async def _queued_behind_a_batch(
    first: int, later: list[int], result_of: Callable[[int], int | Exception]
) -> tuple[Sessions, list[int | None], list[asyncio.Future[int]]]:
    """Submit `first`, queue `later` while its batch is in flight, then let the writing go on.
    Returns the sessions, the session each batch was written in, and the items' futures."""
    sessions = Sessions()
    used: list[int | None] = []
    release = asyncio.Event()

    async def write(batch: list[int]) -> list[int | Exception]:
        used.append(sessions.current)
        await release.wait()  # the later items queue up behind this batch
        return [result_of(item) for item in batch]

    commit = GroupCommit(write, session=sessions)
    futures = [commit.submit(first)]
    await _until(lambda: used)
    futures += [commit.submit(item) for item in later]
    release.set()
    return sessions, used, futures


async def test_a_session_that_cannot_be_had_fails_its_batch_and_the_writer_goes_on() -> None:
    sessions = Sessions()
    sessions.refusals = 1

    async def write(batch: list[int]) -> list[int | Exception]:
        return list(batch)

    commit = GroupCommit(write, session=sessions)

    async with asyncio.timeout(5):  # a writer that died with it would leave its caller waiting
        with pytest.raises(ConnectionError):
            await commit.submit(1)
        assert await commit.submit(2) == 2


async def test_a_caller_in_the_same_pass_of_the_loop_as_the_writer_joins_its_first_batch() -> None:
    batches: list[list[int]] = []

    async def write(batch: list[int]) -> list[int | Exception]:
        batches.append(batch)
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(write)

    async def submit_later(item: int) -> int:
        return await commit.submit(item)

    first = commit.submit(0)  # queued; the writer starts in the loop's next pass
    second = asyncio.create_task(submit_later(1))  # queues in that same pass, after the writer

    assert await asyncio.gather(first, second) == [0, 1]
    assert batches == [[0, 1]]


async def test_cancelling_the_writer_cancels_its_callers() -> None:
    started = asyncio.Event()

    async def write(batch: list[int]) -> list[int | Exception]:
        started.set()
        await asyncio.Event().wait()  # never finishes
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(write)
    waiting = [commit.submit(n) for n in range(2)]
    await started.wait()
    queued = commit.submit(2)  # behind the batch in flight
    assert commit._writer is not None
    commit._writer.cancel()

    results = await asyncio.gather(*waiting, queued, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)


async def _until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_one_by_one_a_failed_batch_is_written_again_item_by_item_in_a_new_session() -> None:
    sessions = Sessions()
    written: list[tuple[list[int], int | None]] = []

    async def write(batch: list[int]) -> list[int | Exception]:
        written.append((batch, sessions.current))
        if -1 in batch:
            raise ValueError("cannot write -1")
        return list(batch)

    commit = GroupCommit(write, session=sessions, one_by_one=True)
    results = await asyncio.gather(*(commit.submit(n) for n in (1, -1, 2)), return_exceptions=True)

    assert [r if isinstance(r, int) else type(r).__name__ for r in results] == [1, "ValueError", 2]
    assert written == [([1, -1, 2], 1), ([1], 2), ([-1], 2), ([2], 3)], "the bad item failed alone, once"
