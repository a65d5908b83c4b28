"""Per-key FIFO locks within one process (the endpoint's arrival turnstile, flow holds)."""

from __future__ import annotations

import asyncio
from types import TracebackType


class LocalLocks:
    """Per-key asyncio locks that disappear when nobody holds or waits for them.

    `hold` is taken twice for every message, so it is a plain context manager class rather
    than a generator-based one, and a lock is only made for a key that has none.
    """

    def __init__(self) -> None:
        self._locks: dict[str, _KeyLock] = {}

    def hold(self, key: str) -> _Hold:
        return _Hold(self._locks, key)


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _Hold:
    __slots__ = ("_entry", "_key", "_locks")

    def __init__(self, locks: dict[str, _KeyLock], key: str) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._locks.get(self._key)
        if entry is None:
            entry = self._locks[self._key] = _KeyLock()
        entry.users += 1
        self._entry = entry
        try:
            await entry.lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._entry.lock.release()
        self._leave()

    def _leave(self) -> None:
        self._entry.users -= 1
        if not self._entry.users:
            del self._locks[self._key]
