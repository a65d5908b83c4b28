"""One customer's messages are handled one at a time, in arrival order; others go on meanwhile.

The lock is taken before flow state is read (aiogram's issue #1317 is the race this prevents).
In one process a FIFO `asyncio.Lock` per customer keeps arrival order; with Redis, a lock key
per customer extends the exclusion to every bot instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis

from bot.conversation.storage import KeyBuilder

LOCK_TIMEOUT_SECONDS = 30.0


class CustomerLock(Protocol):
    def __call__(self, openid: str) -> AbstractAsyncContextManager[None]: ...


class LocalLocks:
    """Per-key asyncio locks that disappear when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class MemoryCustomerLock:
    def __init__(self) -> None:
        self._local = LocalLocks()

    @asynccontextmanager
    async def __call__(self, openid: str) -> AsyncIterator[None]:
        async with self._local.hold(openid):
            yield


class RedisCustomerLock:
    """Local FIFO first (arrival order within an instance), then the shared Redis lock."""

    def __init__(self, redis: Redis, keys: KeyBuilder | None = None) -> None:
        self._redis = redis
        self._keys = keys or KeyBuilder()
        self._local = LocalLocks()

    @asynccontextmanager
    async def __call__(self, openid: str) -> AsyncIterator[None]:
        async with self._local.hold(openid):
            shared = self._redis.lock(
                self._keys("lock", openid),
                timeout=LOCK_TIMEOUT_SECONDS,
                sleep=0.005,
                blocking_timeout=LOCK_TIMEOUT_SECONDS,
                # A handler that outlived the lock has still done its work: keep its reply.
                raise_on_release_error=False,
            )
            async with shared:
                yield
