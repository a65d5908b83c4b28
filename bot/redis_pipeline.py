"""Redis commands from concurrent messages, sent as one pipeline per round trip.

Each message makes two small Redis calls (claim it and take its customer's flow; give the flow
back and store the reply). Sent one by one, redis-py's bookkeeping per command (a pooled
connection, a timeout, retries, metrics) cost more CPU than the rest of the message, and its
`Pipeline` still spends as much again per round trip. Here the commands issued while a batch is
in flight go together in the next one (`GroupCommit`), written to one connection of the
pipeline's own as a single buffer (packed by hiredis in C) and read back reply by reply: each
caller awaits its own reply, as Redis sent it, in the order Redis ran the commands.

The pipeline's connections (`from_url`) have no deadline per reply; one deadline covers each
batch, and a batch cut off by it leaves its connection closed, never half-read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.asyncio import Connection, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from bot.group_commit import GroupCommit

Command = tuple[Any, ...]
BATCH_TIMEOUT_SECONDS = 5.0


class RedisPipeline:
    def __init__(self, redis: Redis, timeout: float = BATCH_TIMEOUT_SECONDS) -> None:
        self.redis = redis
        self._timeout = timeout
        self._connection: Connection | None = None
        self._batches: GroupCommit[Command, Any] = GroupCommit(self._send)

    @classmethod
    def from_url(cls, url: str) -> RedisPipeline:
        """A pipeline on connections of its own; `aclose` closes them."""
        return cls(Redis.from_url(url, socket_timeout=None))

    async def aclose(self) -> None:
        if self._connection is not None:
            await self.redis.connection_pool.release(self._connection)
        await self.redis.aclose()

    async def execute(self, *command: str | bytes | int | float) -> Any:
        """One command (`"SET", key, value, "NX"`) and Redis's reply to it, not converted
        (`b"OK"`, None, bytes, a list or map); an error reply is raised as redis-py's exception."""
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
        async with asyncio.timeout(self._timeout):
            if self._connection is None:
                self._connection = await self.redis.connection_pool.get_connection()
            connection = self._connection  # reconnects by itself after an error closed it
            packed = b"".join([hiredis.pack_command(command) for command in commands])
            await connection.send_packed_command(packed, check_health=False)
            return [await _reply(connection) for _ in commands]


async def _reply(connection: Connection) -> Any:
    try:
        return await connection.read_response()
    except ResponseError as error:  # the reply was read: the connection is still in step
        return error
