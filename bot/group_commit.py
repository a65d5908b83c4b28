"""Group commit: requests that arrive while a batch is being written go together in the next one.

Under load, the fixed cost of a write (a transaction, a round trip to Redis, the client library's
bookkeeping) outweighs the work per item; paying it once per batch rather than once per item is
most of what the bot can gain there. A quiet caller is written at once, with no added delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
Waiting = tuple[Item, "asyncio.Future[Result]"]

MAX_BATCH = 256


class GroupCommit(Generic[Item, Result]):
    """`write` takes a batch and returns, in order, each item's result or the exception it
    failed with; an exception raised by `write` itself fails the whole batch, or with
    `one_by_one` (for writes that are safe to repeat) has its items written again one at a
    time in a new session: one bad item fails alone, and a dropped connection fails none.

    `session` is what batches written back to back share (a database connection): entered when
    writing starts, left when nothing more is queued, and renewed after a failure, so a broken
    connection is given up rather than kept for the next batch.
    """

    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[list[Result | Exception]]],
        max_batch: int = MAX_BATCH,
        session: Callable[[], AbstractAsyncContextManager[object]] = nullcontext,
        one_by_one: bool = False,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._session = session
        self._one_by_one = one_by_one
        self._queue: list[Waiting[Item, Result]] = []
        self._alone: list[Waiting[Item, Result]] = []  # from a failed batch, written one at a time
        self._writer: asyncio.Task[None] | None = None

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue `item`; the future is its result. Awaiting it later lets the caller do other
        waiting (another round trip) while the item is written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return future

    async def _write_queued(self) -> None:
        # The callers that become ready in the loop's current pass join the first batch: under
        # load that made batches bigger and a message's share of their cost smaller.
        await asyncio.sleep(0)
        try:
            while self._alone or self._queue:
                try:
                    async with self._session():
                        await self._write_until_failed()
                except Exception as exc:  # the session could not be had: its batch fails, not the writer
                    batch = self._next_batch()
                    self._settle(batch, [exc] * len(batch))
        except BaseException:  # the writer was cancelled: so are its callers
            for _, future in self._alone + self._queue:
                future.cancel()
            self._alone.clear()
            self._queue.clear()
            raise

    async def _write_until_failed(self) -> None:
        while self._alone or self._queue:
            retried = bool(self._alone)
            batch = self._next_batch()
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                if self._one_by_one and not retried:
                    log.warning("batch of %d failed; writing its items one by one", len(batch), exc_info=True)
                    self._alone[:0] = batch
                    return
                results = [exc] * len(batch)
            except BaseException:
                self._alone[:0] = batch  # cancelled with the rest
                raise
            self._settle(batch, results)
            if any(isinstance(result, Exception) for result in results):
                return

    def _next_batch(self) -> list[Waiting[Item, Result]]:
        if self._alone:
            return [self._alone.pop(0)]
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        return batch

    @staticmethod
    def _settle(batch: list[Waiting[Item, Result]], results: list[Result | Exception]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
