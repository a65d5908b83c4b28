"""Group commit: requests that arrive while a batch is being written go together in the next one.

Under load, the fixed cost of a write (a transaction, a round trip to Redis, the client library's
bookkeeping) outweighs the work per item; paying it once per batch rather than once per item is
most of what the bot can gain there. A quiet caller is written at once, with no added delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 256


class GroupCommit(Generic[Item, Result]):
    """`write` takes a batch and returns, in order, each item's result or the exception it
    failed with; an exception raised by `write` itself fails the whole batch."""

    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[list[Result | Exception]]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return await future

    async def _write_queued(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            except BaseException:  # the writer was cancelled: so are its callers
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue.clear()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
