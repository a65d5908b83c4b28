"""The real services tests run against: SQLite + in-process state, and PostgreSQL + Redis.

`backend` is parametrized over both, so one test body checks both configurations. PostgreSQL
and Redis are found at TEST_POSTGRES_URL / TEST_REDIS_URL (default: this machine's), else
throwaway servers are started (see `tests/throwaway.py`); they are never mocked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from tortoise import Tortoise
from tortoise.backends.base import executor

from bot.db import close_db, tortoise_config
from tests import throwaway


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres")


def forget_dialect() -> None:
    """Tortoise caches SQL per connection name, not per dialect; tests switch dialects."""
    executor.EXECUTOR_CACHE.clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """An admin URL of a reachable PostgreSQL (this machine's or a throwaway one)."""
    with throwaway.postgres() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis URL whose database number is this session's, since tests flush it.

    Two test sessions on one machine (a developer's and CI's) must not flush each other's keys.
    """
    with throwaway.redis() as url:
        yield _session_database(url)


def _session_database(url: str) -> str:
    if not url.startswith("redis://") or "TEST_REDIS_URL" in os.environ:
        return url
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{1 + os.getpid() % 15}"


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """One database for the session; tests empty its tables instead of recreating it.

    Its schema is generated from the models (tests/test_migrations.py checks that the aerich
    migrations produce the same schema).
    """
    import asyncio

    name = f"bot_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(postgres_server)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    forget_dialect()
    asyncio.run(_generate_schema(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _generate_schema(url: str) -> None:
    await Tortoise.init(config=tortoise_config(url))
    try:
        await Tortoise.generate_schemas()
    finally:
        await close_db()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite://{tmp_path}/bot.sqlite3", None)
    return Backend(
        "postgres",
        request.getfixturevalue("postgres_database"),
        request.getfixturevalue("redis_server"),
    )


@pytest_asyncio.fixture
async def db(backend: Backend) -> AsyncIterator[Backend]:
    """The backend's database, empty and ready; Redis flushed when the backend has it."""
    forget_dialect()
    if backend.is_postgres:
        await Tortoise.init(config=tortoise_config(backend.database_url))
        connection = Tortoise.get_connection("default")
        tables = [m._meta.db_table for m in Tortoise.apps["models"].values() if m._meta.db_table != "aerich"]
        await connection.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await Tortoise.init(config=tortoise_config(backend.database_url))
        await Tortoise.generate_schemas()
    if backend.redis_url:
        redis = Redis.from_url(backend.redis_url)
        await redis.flushdb()
        await redis.aclose()
    yield backend
    await close_db()
