"""WeChat retries a request up to 3 times; each retry must get the first answer, not a redo.

The first request to claim a message's key handles it; concurrent and later retries wait for
its reply (up to the reply budget) and return the same bytes. A message's reply is stored once:
the first answer given (the handler's, or `success` when it overran) is the one retries get.
Usually it is stored with the customer's flow as the handler finishes (`Held.reply`). Replies
are kept an hour, far longer than WeChat's retry window. An unanswered claim in Redis lapses
after 15 seconds: a reply is always stored within the reply budget, so a claim that old belongs
to an instance that died, and the next retry handles the message instead of it being lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from bot.conversation.storage import (
    PENDING_REPLY,
    REPLY_TTL_SECONDS,
    KeyBuilder,
    RedisFlowStorage,
    stored_reply,
)
from bot.redis_pipeline import RedisPipeline

PENDING_TTL_SECONDS = 15
POLL_SECONDS = 0.01
# KEYS: reply. ARGV: reply, TTL. Stored only while the claim is pending; returns what is kept.
STORE = """
local kept = redis.call('GET', KEYS[1])
if kept ~= '' then return kept end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""


class ReplyCache(Protocol):
    async def claim(self, key: str, openid: str) -> bool:
        """True for the first caller with this key: it must handle `openid`'s message."""
        ...

    async def store(self, key: str, reply: bytes) -> bytes | None:
        """Keep the message's reply, unless one was kept already; the reply kept either way
        (None once the claim is gone)."""
        ...

    async def wait(self, key: str, timeout: float) -> bytes | None:
        """The first handler's reply, or None if it is not ready within `timeout`."""
        ...


class MemoryReplyCache:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._ready: dict[str, asyncio.Event] = {}

    def _purge(self) -> None:
        """Drop expired entries from the oldest end (dicts keep insertion order): O(1) per claim."""
        now = self._monotonic()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                return
            del self._entries[key]
            self._ready.pop(key, None)

    async def claim(self, key: str, openid: str) -> bool:
        self._purge()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._monotonic():
            return False
        self._entries[key] = (self._monotonic() + REPLY_TTL_SECONDS, PENDING_REPLY)
        self._ready[key] = asyncio.Event()
        return True

    async def store(self, key: str, reply: bytes) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] != PENDING_REPLY:
            return entry[1] if entry else None
        self._entries[key] = (self._monotonic() + REPLY_TTL_SECONDS, reply)
        self._ready[key].set()
        return reply

    async def wait(self, key: str, timeout: float) -> bytes | None:
        ready = self._ready.get(key)
        if ready is None:
            return None
        try:
            await asyncio.wait_for(ready.wait(), timeout)
        except TimeoutError:
            return None
        return self._entries[key][1]


class RedisReplyCache:
    """Claims go through the flow storage, which takes the customer's flow in the same trip."""

    def __init__(self, redis: RedisPipeline, flows: RedisFlowStorage, keys: KeyBuilder | None = None) -> None:
        self._redis = redis
        self._flows = flows
        self._keys = keys or KeyBuilder()
        self._store = redis.script(STORE)

    async def claim(self, key: str, openid: str) -> bool:
        return await self._flows.claim(openid, self._keys("reply", key), PENDING_TTL_SECONDS)

    async def store(self, key: str, reply: bytes) -> bytes | None:
        args = [stored_reply(reply), REPLY_TTL_SECONDS]
        return _reply_of(await self._redis.run(self._store, [self._keys("reply", key)], args))

    async def wait(self, key: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            reply = _reply_of(await self._redis.execute("GET", self._keys("reply", key)))
            if reply is not None:
                return reply
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_SECONDS)


def _reply_of(raw: bytes | None) -> bytes | None:
    """The reply a reply key holds; None while it is pending or gone."""
    return raw[1:] if raw else None
