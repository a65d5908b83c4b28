"""Waiting for handlers up to the reply budget, with one timer for all of them.

`asyncio.wait(..., timeout=...)` arms and cancels a timer for every message, which took 6% of a
message's CPU. The budget is the same for every message, so deadlines fall in the order the
messages arrived: a queue of waiters and one timer, set for the oldest one still waiting,
serve them all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial
from typing import Any


class ReplyBudget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._waiting: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def finished_within(self, task: asyncio.Task[Any]) -> bool:
        """True once `task` is done; False when the budget runs out first (the task goes on)."""
        if task.done():
            return True
        loop = asyncio.get_running_loop()
        in_time: asyncio.Future[bool] = loop.create_future()
        task.add_done_callback(partial(_settle, in_time, True))
        self._waiting.append((loop.time() + self.seconds, in_time))
        if self._timer is None:
            self._timer = loop.call_at(self._waiting[0][0], self._expire, loop)
        return await in_time

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Settle every waiter past its deadline, forget the finished ones, wait for the next."""
        self._timer = None
        now = loop.time()
        while self._waiting:
            deadline, in_time = self._waiting[0]
            if deadline > now and not in_time.done():
                self._timer = loop.call_at(deadline, self._expire, loop)
                return
            self._waiting.popleft()
            _settle(in_time, False)


def _settle(in_time: asyncio.Future[bool], finished: bool, _task: object = None) -> None:
    if not in_time.done():  # settled already, or its request was cancelled
        in_time.set_result(finished)
