"""Database wiring: the Tortoise config for a URL, and migrations applied with aerich."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url

from bot.models import MODELS

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The config dict Tortoise and aerich share; SQLite files get their folder created."""
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> dict[str, Any]:
    """Tortoise's connection settings for the URL, with these choices of ours:

    SQLite in WAL mode commits without an fsync (synchronous=NORMAL): a commit survives the bot
    crashing, only a power cut can lose the last ones. PostgreSQL connections go back to the
    pool without asyncpg's reset query: the bot never changes session state (no SET, LISTEN or
    advisory locks), and the reset cost a round trip after every query. And PostgreSQL plans
    each execution of a prepared statement afresh: a generic plan cached while a table was
    nearly empty (a new install) went on scanning it whole once it had grown, and under load
    the follower lookup took half a core.
    """
    config = expand_db_url(database_url)
    if database_url.startswith("sqlite://"):
        config["credentials"].setdefault("synchronous", "NORMAL")
    else:
        config["credentials"]["connection_class"] = _PooledConnection
        config["credentials"]["server_settings"] = {"plan_cache_mode": "force_custom_plan"}
    return config


class _PooledConnection(asyncpg.Connection):
    def get_reset_query(self) -> str:
        return ""


async def init_db(database_url: str) -> None:
    await Tortoise.init(config=tortoise_config(database_url))


async def close_db() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def database(database_url: str) -> AsyncIterator[None]:
    await init_db(database_url)
    try:
        yield
    finally:
        await close_db()


async def migrate(database_url: str) -> list[str]:
    """Apply pending aerich migrations; returns the names of those applied.

    Runs in a Tortoise context of its own: aerich skips its set-up when the caller's context was
    initialised before (even if closed since), and would then migrate the wrong database.
    """
    from aerich import Command
    from tortoise.context import TortoiseContext

    command = Command(
        tortoise_config=tortoise_config(database_url), app="models", location=str(MIGRATIONS_DIR)
    )
    async with TortoiseContext():
        await command.init()
        try:
            applied = await command.upgrade(run_in_transaction=True)
        finally:
            await Tortoise.close_connections()
    for name in applied:
        log.info("migration applied", extra={"migration": name})
    return list(applied)
