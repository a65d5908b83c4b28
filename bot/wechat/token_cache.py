"""The access token, shared by every caller and refreshed by one caller at a time.

WeChat limits token requests per day, and a refresh may invalidate the token other callers are
using. So whoever finds the cache empty (or holding a token WeChat just rejected) refreshes
under a lock while everyone else waits and then re-reads: in one process an `asyncio.Lock`, and
across processes a Redis lock key taken with SET NX PX. A rejected token is discarded only if it
is still the cached one (compare-and-delete), so 50 concurrent rejections cause one refresh.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from bot.wechat.errors import WeChatUnavailable

logger = logging.getLogger(__name__)

SAFETY_MARGIN_SECONDS = 300  # stop using a token well before WeChat expires it


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_in: int  # seconds, as WeChat said

    @property
    def cache_seconds(self) -> float:
        return max(self.expires_in - SAFETY_MARGIN_SECONDS, 1)


TokenFetcher = Callable[[bool], Awaitable[IssuedToken]]
"""Asks WeChat for a token; the argument is `force_refresh`, true only after a rejection."""


class TokenCache(Protocol):
    async def get(self, fetch: TokenFetcher, *, rejected: str | None = None) -> str:
        """A token to call WeChat with; `rejected` names one WeChat just refused."""
        ...


class _SingleFlightTokenCache(ABC):
    """The refresh protocol; subclasses say where the token lives and how processes exclude each other."""

    def __init__(self) -> None:
        self._local_lock = asyncio.Lock()

    async def get(self, fetch: TokenFetcher, *, rejected: str | None = None) -> str:
        token = await self._read()
        if token is not None and token != rejected:
            return token
        async with self._local_lock:
            token = await self._read()
            if token is not None and token != rejected:
                return token
            async with self._exclusive():
                token = await self._read()
                if token is not None and token != rejected:
                    return token
                if token is not None:
                    await self._discard(token)
                issued = await fetch(rejected is not None)
                await self._store(issued)
        logger.info(
            "wechat access token refreshed",
            extra={"forced": rejected is not None, "expires_in": issued.expires_in},
        )
        return issued.value

    @abstractmethod
    async def _read(self) -> str | None: ...

    @abstractmethod
    async def _store(self, issued: IssuedToken) -> None: ...

    @abstractmethod
    async def _discard(self, token: str) -> None:
        """Forget `token` only if it is still the cached one."""

    @abstractmethod
    def _exclusive(self) -> AbstractAsyncContextManager[object]:
        """Held while refreshing, to keep other processes from refreshing at the same time."""


class MemoryTokenCache(_SingleFlightTokenCache):
    """For a single process (no BOT_REDIS_URL)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._monotonic = monotonic
        self._token: str | None = None
        self._valid_until = 0.0

    async def _read(self) -> str | None:
        return self._token if self._monotonic() < self._valid_until else None

    async def _store(self, issued: IssuedToken) -> None:
        self._token = issued.value
        self._valid_until = self._monotonic() + issued.cache_seconds

    async def _discard(self, token: str) -> None:
        if self._token == token:
            self._token = None

    def _exclusive(self) -> AbstractAsyncContextManager[object]:
        return nullcontext()  # the in-process lock is all a single process needs


_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenCache(_SingleFlightTokenCache):
    """Shared by every bot and scheduler process using the same Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: str = "wechat:access_token",
        lock_ttl: float = 15.0,
        wait_timeout: float = 20.0,
        max_poll_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self._redis = redis
        self._key = key
        self._lock_key = f"{key}:lock"
        self._lock_ttl_ms = int(lock_ttl * 1000)
        self._wait_timeout = wait_timeout
        self._max_poll_interval = max_poll_interval
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)

    async def _read(self) -> str | None:
        value = await self._redis.get(self._key)
        return value.decode() if isinstance(value, bytes) else value

    async def _store(self, issued: IssuedToken) -> None:
        await self._redis.set(self._key, issued.value, px=int(issued.cache_seconds * 1000))

    async def _discard(self, token: str) -> None:
        await self._compare_and_delete(keys=[self._key], args=[token])

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """Poll for the lock key until the holder (maybe another process) is done, up to a deadline.

        The lock expires by itself (PX) so a crashed holder blocks the others only briefly.
        """
        owner = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_timeout
        interval = 0.005
        while not await self._redis.set(self._lock_key, owner, nx=True, px=self._lock_ttl_ms):
            if loop.time() >= deadline:
                raise WeChatUnavailable("timed out waiting for another process to refresh the access token")
            await asyncio.sleep(interval)
            interval = min(interval * 2, self._max_poll_interval)
        try:
            yield
        finally:
            await self._compare_and_delete(keys=[self._lock_key], args=[owner])
