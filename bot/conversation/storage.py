"""Per-customer flow state behind a narrow interface, in process memory or in Redis.

State lives 30 minutes after the customer's last answer. A short-lived marker outlives it, so a
customer who comes back to an expired flow can be told so instead of being misunderstood.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from redis.asyncio import Redis

FLOW_TTL_SECONDS = 30 * 60
EXPIRED_HINT_TTL_SECONDS = 24 * 60 * 60


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
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FlowState:
        return cls(**json.loads(raw))


class KeyBuilder:
    """The one place Redis keys are spelled."""

    def __init__(self, prefix: str = "bot") -> None:
        self.prefix = prefix

    def __call__(self, kind: str, openid: str) -> str:
        return f"{self.prefix}:{kind}:{openid}"


class FlowStorage(Protocol):
    async def get(self, openid: str) -> FlowState | None: ...

    async def set(self, openid: str, state: FlowState) -> None: ...

    async def clear(self, openid: str) -> None: ...

    async def expired_flow(self, openid: str) -> str | None:
        """The flow a customer was in when it timed out, once; None if none did."""
        ...


class MemoryFlowStorage:
    """Single-process storage; `monotonic` is injectable so tests can expire state."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._states: dict[str, tuple[float, FlowState]] = {}
        self._hints: dict[str, tuple[float, str]] = {}

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

    async def expired_flow(self, openid: str) -> str | None:
        if await self.get(openid) is not None:
            return None
        hint = self._hints.pop(openid, None)
        if hint is None or self._monotonic() >= hint[0]:
            return None
        return hint[1]


# The hint is taken only when the flow itself is gone: one round trip instead of two.
POP_EXPIRED_HINT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
return redis.call('GETDEL', KEYS[2])
"""


class RedisFlowStorage:
    def __init__(self, redis: Redis, keys: KeyBuilder | None = None) -> None:
        self._redis = redis
        self._keys = keys or KeyBuilder()
        self._pop_expired_hint = redis.register_script(POP_EXPIRED_HINT)

    async def get(self, openid: str) -> FlowState | None:
        raw = await self._redis.get(self._keys("flow", openid))
        return FlowState.from_json(raw) if raw else None

    async def set(self, openid: str, state: FlowState) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys("flow", openid), state.to_json(), ex=FLOW_TTL_SECONDS)
            pipe.set(self._keys("flow-hint", openid), state.flow, ex=EXPIRED_HINT_TTL_SECONDS)
            await pipe.execute()

    async def clear(self, openid: str) -> None:
        await self._redis.delete(self._keys("flow", openid), self._keys("flow-hint", openid))

    async def expired_flow(self, openid: str) -> str | None:
        keys = [self._keys("flow", openid), self._keys("flow-hint", openid)]
        hint = await self._pop_expired_hint(keys=keys)
        return hint.decode() if isinstance(hint, bytes) else hint
