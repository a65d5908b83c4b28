"""Per-customer flow state behind a narrow interface, in process memory or in Redis.

A message is handled while its customer's flow is *held*: one message per customer at a time,
in arrival order, other customers going on meanwhile. The hold is taken before the state is
read (aiogram's issue #1317 is the race this prevents). In one process a FIFO `asyncio.Lock`
per customer does it; with Redis a lock key per customer extends it to every bot instance, and
taking the lock returns the state while giving it back saves the new state: one round trip
each way. The taking usually rides along with the claim of the message's reply key (see
`RedisFlowStorage.claim`), so a message costs Redis a round trip fewer.

State lives 30 minutes after the customer's last answer. A short-lived marker outlives it, so a
customer who comes back to an expired flow can be told so instead of being misunderstood.

A message's sender is read as it arrives, before its hold (`Engine.admit`). Another message of
the customer handled meanwhile may have changed the sender (bound a car, counted a failed
binding), so a hold says whether one of the customer's holds ended in the last few seconds
(`Held.handled_recently`); the engine then reads the sender again, as it does for a message
that itself waited that long for its hold.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.conversation.locks import LocalLocks
from bot.redis_pipeline import RedisPipeline

FLOW_TTL_SECONDS = 30 * 60
REPLY_TTL_SECONDS = 60 * 60
PENDING_REPLY = b""  # a claimed message's reply key until its reply is stored
EXPIRED_HINT_TTL_SECONDS = 24 * 60 * 60
HANDLED_RECENTLY_SECONDS = 5
LOCK_TIMEOUT_SECONDS = 30.0
LOCK_TIMEOUT_MS = int(LOCK_TIMEOUT_SECONDS * 1000)
LOCK_POLL_SECONDS = 0.005


@dataclass(frozen=True)
class FlowState:
    """Where a customer is in a multi-step flow. `data` holds the answers so far (JSON-able)."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    failures: int = 0

    def at(self, step: str, **data: Any) -> FlowState:
        return replace(self, step=step, data={**self.data, **data}, failures=0)

    def failed(self) -> FlowState:
        return replace(self, failures=self.failures + 1)

    def to_json(self) -> str:
        """The fields as they are: `data` is JSON already, and `asdict` would deep-copy it first
        (four times the cost, paid on every message that moves a flow on)."""
        return json.dumps(vars(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FlowState:
        return cls(**json.loads(raw))


class KeyBuilder:
    """The one place Redis keys are spelled."""

    def __init__(self, prefix: str = "bot") -> None:
        self.prefix = prefix

    def __call__(self, kind: str, openid: str) -> str:
        return f"{self.prefix}:{kind}:{openid}"


class Held:
    """A customer's flow while one of their messages is handled; `flow` at the end is kept, and
    so is `reply` (the message's key and its rendered reply), in the same write.

    When no flow runs because one timed out, `pop_expired` names it, once: the customer can be
    told their flow expired instead of being misunderstood.
    """

    def __init__(
        self, flow: FlowState | None, expired: str | None = None, handled_recently: bool = False
    ) -> None:
        self.flow = flow
        self.handled_recently = handled_recently  # another hold of the customer ended just now
        self.reply: tuple[str, bytes] | None = None
        self._expired = expired
        self._loaded = (flow, expired)

    @property
    def loaded(self) -> FlowState | None:
        return self._loaded[0]

    @property
    def changed(self) -> bool:
        return (self.flow, self._expired) != self._loaded

    def pop_expired(self) -> str | None:
        expired, self._expired = self._expired, None
        return expired

    def forget_changes(self) -> None:
        self.flow, self._expired = self._loaded
        self.reply = None


class CustomerBusy(RuntimeError):
    """Another instance held the customer's flow for the whole lock timeout."""


class FlowStorage(Protocol):
    def hold(self, openid: str) -> AbstractAsyncContextManager[Held]:
        """The customer's flow, theirs alone until the block ends; saved, with the reply the
        block kept, unless the block raised. A reply is kept only while the message's claim has
        none (see `bot.conversation.dedup`)."""
        ...

    async def get(self, openid: str) -> FlowState | None: ...

    async def set(self, openid: str, state: FlowState) -> None: ...

    async def clear(self, openid: str) -> None: ...


class MemoryFlowStorage:
    """Single-process storage; `keep_reply` is the reply cache's `store`; `monotonic` is
    injectable so tests can expire state."""

    def __init__(
        self,
        keep_reply: Callable[[str, bytes], Awaitable[object]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keep_reply = keep_reply
        self._monotonic = monotonic
        self._states: dict[str, tuple[float, FlowState]] = {}
        self._hints: dict[str, tuple[float, str]] = {}
        self._handled: dict[str, float] = {}  # when each customer's last hold ended, oldest first
        self._locks = LocalLocks()

    @asynccontextmanager
    async def hold(self, openid: str) -> AsyncIterator[Held]:
        async with self._locks.hold(openid):
            flow = await self.get(openid)
            held = Held(flow, None if flow else self._live_hint(openid), self._handled_recently(openid))
            try:
                yield held
                if held.changed:
                    await (self.set(openid, held.flow) if held.flow else self.clear(openid))
                if held.reply is not None:
                    await self._keep_reply(*held.reply)
            finally:  # a failed handler may have changed the sender all the same
                self._mark_handled(openid)

    async def get(self, openid: str) -> FlowState | None:
        entry = self._states.get(openid)
        if entry is None:
            return None
        expires, state = entry
        if self._monotonic() >= expires:
            del self._states[openid]
            return None
        return state

    async def set(self, openid: str, state: FlowState) -> None:
        now = self._monotonic()
        self._states[openid] = (now + FLOW_TTL_SECONDS, state)
        self._hints[openid] = (now + EXPIRED_HINT_TTL_SECONDS, state.flow)

    async def clear(self, openid: str) -> None:
        self._states.pop(openid, None)
        self._hints.pop(openid, None)

    def _live_hint(self, openid: str) -> str | None:
        hint = self._hints.get(openid)
        return hint[1] if hint is not None and self._monotonic() < hint[0] else None

    def _handled_recently(self, openid: str) -> bool:
        ended = self._handled.get(openid)
        return ended is not None and self._monotonic() - ended < HANDLED_RECENTLY_SECONDS

    def _mark_handled(self, openid: str) -> None:
        """Note the hold's end, moved to the newest end; forget those no longer recent."""
        now = self._monotonic()
        self._handled.pop(openid, None)
        self._handled[openid] = now
        while True:  # ends at the newest, just noted
            oldest, ended = next(iter(self._handled.items()))
            if now - ended < HANDLED_RECENTLY_SECONDS:
                return
            del self._handled[oldest]


# KEYS: lock, flow, hint, handled-recently marker and, to claim a message first, its reply key.
# ARGV: token, lock timeout (ms), claim TTL (s). {-1} when the message was claimed before; when
# the lock is taken {1, marker (1|0), state} or, with no state, {1, marker, false, hint or false};
# else {0}. A claim is an empty value (pending).
TAKE = """
if KEYS[5] and not redis.call('SET', KEYS[5], '', 'NX', 'EX', ARGV[3]) then return {-1} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local handled = redis.call('EXISTS', KEYS[4])
  local state = redis.call('GET', KEYS[2])
  if state then return {1, handled, state} end
  return {1, handled, false, redis.call('GET', KEYS[3])}
end
return {0}
"""
# KEYS: lock, flow, hint, handled-recently marker and, to store a message's reply too, its reply
# key. ARGV: token (empty for a write outside a hold), marker TTL, 'keep'|'set'|'clear', state,
# flow name, TTLs, reply, reply TTL. The state is saved even when the lock timed out meanwhile
# (the handler's work is done); the lock is only deleted while it is still this holder's; the
# reply only stored while the claim is pending (the first answer stays).
GIVE_BACK = """
if KEYS[5] and redis.call('GET', KEYS[5]) == '' then
  redis.call('SET', KEYS[5], ARGV[8], 'EX', ARGV[9])
end
if ARGV[3] == 'set' then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[6])
  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[7])
elseif ARGV[3] == 'clear' then
  redis.call('DEL', KEYS[2], KEYS[3])
end
if ARGV[1] ~= '' then redis.call('SET', KEYS[4], '', 'EX', ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisFlowStorage:
    """`monotonic` is injectable so tests can age a flow taken at claim."""

    def __init__(
        self,
        redis: RedisPipeline,
        keys: KeyBuilder | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._keys = keys or KeyBuilder()
        self._monotonic = monotonic
        self._take = redis.script(TAKE)
        self._give_back = redis.script(GIVE_BACK)
        self._locks = LocalLocks()
        self._taken_at_claim: dict[str, deque[_Taken]] = {}
        self._lock_tokens = _LockTokens()

    async def claim(self, openid: str, reply_key: str, ttl_seconds: int) -> bool:
        """Claim a message's reply key (False: claimed before, this is a retry) and, in the same
        round trip, take its customer's flow when nobody holds it.

        The next `hold` of this customer in this instance starts with that flow instead of a trip
        of its own. Holds queue in arrival order, as the claims are made, so the flows taken at
        claim are handed out first in, first out.
        """
        token = self._lock_tokens()
        keys = [*self._keys_of(openid), reply_key]
        outcome, *loaded = await self._redis.run(self._take, keys, [token, LOCK_TIMEOUT_MS, ttl_seconds])
        if outcome == 1:
            taken = _Taken(token, _held(*loaded), self._monotonic() + LOCK_TIMEOUT_SECONDS / 2)
            self._taken_at_claim.setdefault(openid, deque()).append(taken)
        return bool(outcome != -1)

    @asynccontextmanager
    async def hold(self, openid: str) -> AsyncIterator[Held]:
        """Local FIFO first (arrival order within this instance), then the shared lock."""
        keys = self._keys_of(openid)
        async with self._locks.hold(openid):
            token, held = self._taken_ahead(openid) or await self._take_when_free(keys)
            try:
                yield held
            except BaseException:
                held.forget_changes()  # a failed handler changes nothing
                raise
            finally:
                args: list[str | int | bytes] = [
                    token,
                    HANDLED_RECENTLY_SECONDS,
                    *(_saving(held.flow) if held.changed else UNCHANGED),
                ]
                if held.reply is not None:
                    key, reply = held.reply
                    keys = [*keys, self._keys("reply", key)]
                    args += [stored_reply(reply), REPLY_TTL_SECONDS]
                await self._redis.run(self._give_back, keys, args)

    def _keys_of(self, openid: str) -> list[str]:
        """TAKE's and GIVE_BACK's keys: the customer's lock, flow, expiry hint and the marker of
        a hold ended just now."""
        return [self._keys(kind, openid) for kind in ("lock", "flow", "flow-hint", "handled")]

    def _taken_ahead(self, openid: str) -> tuple[str, Held] | None:
        """The oldest flow taken at claim for this customer, unless its lock may have lapsed (a
        hold that never came, its task cancelled: that lock is left to lapse)."""
        queue = self._taken_at_claim.get(openid)
        if not queue:
            return None
        taken = queue.popleft()
        if not queue:
            del self._taken_at_claim[openid]
        return (taken.token, taken.held) if self._monotonic() < taken.usable_until else None

    async def _take_when_free(self, keys: list[str]) -> tuple[str, Held]:
        token = self._lock_tokens()
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            taken, *loaded = await self._redis.run(self._take, keys, [token, LOCK_TIMEOUT_MS])
            if taken:
                return token, _held(*loaded)
            if time.monotonic() >= deadline:
                raise CustomerBusy(keys[0])
            await asyncio.sleep(LOCK_POLL_SECONDS)

    async def get(self, openid: str) -> FlowState | None:
        raw = await self._redis.execute("GET", self._keys("flow", openid))
        return FlowState.from_json(raw) if raw else None

    async def set(self, openid: str, state: FlowState) -> None:
        """The write a hold's end makes, without the hold (no lock token: no lock is released)."""
        await self._redis.run(self._give_back, self._keys_of(openid), ["", 0, *_saving(state)])

    async def clear(self, openid: str) -> None:
        await self._redis.run(self._give_back, self._keys_of(openid), ["", 0, *_saving(None)])


UNCHANGED: list[str | int] = ["keep", "", "", 0, 0]


class _LockTokens:
    """Tokens telling one hold of a customer's lock from every other, in any instance: whose lock
    a GIVE_BACK may delete. Random per storage, counted per hold: `secrets.token_hex` per message
    read the kernel's random source each time, about 1% of the bot's CPU."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._holds = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._holds)}"


@dataclass(frozen=True)
class _Taken:
    """A customer's flow taken together with a message's claim, waiting for that message's hold."""

    token: str
    held: Held
    usable_until: float  # monotonic


def _held(handled: int, state: bytes | None, expired: bytes | None = None) -> Held:
    """What TAKE returned: whether a hold ended just now, and the flow's JSON or, with none, the
    name of the flow that timed out."""
    if state:
        return Held(FlowState.from_json(state), handled_recently=bool(handled))
    return Held(None, expired.decode() if expired else None, bool(handled))


def stored_reply(reply: bytes) -> bytes:
    """A reply as its key holds it: never empty, which is a pending claim."""
    return b"=" + reply


def _saving(flow: FlowState | None) -> list[str | int]:
    """GIVE_BACK's arguments after the token that save `flow`, or clear it when None."""
    if flow is None:
        return ["clear", "", "", 0, 0]
    return ["set", flow.to_json(), flow.flow, FLOW_TTL_SECONDS, EXPIRED_HINT_TTL_SECONDS]
