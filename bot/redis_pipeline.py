"""Redis commands from concurrent messages, sent as one pipeline per round trip.

Each message makes a few small Redis calls (claim its reply, take and give back its customer's
flow, store the reply). Sent one by one, redis-py's bookkeeping per command (a pooled
connection, a timeout, retries, metrics) cost more CPU than the rest of the message. Here the
commands issued while a pipeline is in flight go together in the next one (`GroupCommit`):
each caller still awaits its own result, in the order Redis ran them.

The pipeline's own connections (`from_url`) have no deadline per reply, which redis-py arms and
disarms for every reply of a pipeline: one deadline covers each batch instead. They also pack
commands with hiredis's packer in C, as redis-py's synchronous client does; its asyncio client
packs them in Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import hiredis
from redis.asyncio import Connection, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from bot.group_commit import GroupCommit

Command = tuple[Any, ...]
BATCH_TIMEOUT_SECONDS = 5.0


class RedisPipeline:
    def __init__(self, redis: Redis, timeout: float = BATCH_TIMEOUT_SECONDS) -> None:
        self.redis = redis
        self._timeout = timeout
        self._batches: GroupCommit[Command, Any] = GroupCommit(self._send)

    @classmethod
    def from_url(cls, url: str) -> RedisPipeline:
        """A pipeline on connections of its own; `aclose` closes them."""
        return cls(Redis.from_url(url, socket_timeout=None, connection_class=_PackedInC))

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def execute(self, *command: Any) -> Any:
        """One command (`"SET", key, value, "NX"`); its reply as redis-py parses it."""
        return await self._batches.submit(command)

    def script(self, source: str) -> AsyncScript:
        """A Lua script to pass to `run`."""
        return self.redis.register_script(source)

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script once if this Redis has not seen it (or was restarted)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.execute(*command)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self.execute(*command)

    async def _send(self, commands: list[Command]) -> list[Any]:
        """Cancelled at the deadline, redis-py drops the connection mid-reply rather than reuse it."""
        async with asyncio.timeout(self._timeout), self.redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)


class _PackedInC(Connection):
    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        """One buffer for the batch. A command name of several words ("SCRIPT LOAD"), which
        redis-py splits, never comes through the pipeline."""
        return [b"".join([hiredis.pack_command(tuple(command)) for command in commands])]
