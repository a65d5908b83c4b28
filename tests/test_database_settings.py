"""The connection settings bot.db chooses, as the database reports them."""

from __future__ import annotations

from tortoise import Tortoise

from tests.backends import Backend


async def test_connections_carry_the_settings_the_bot_chose(db: Backend) -> None:
    connection = Tortoise.get_connection("default")

    if db.is_postgres:
        _, rows = await connection.execute_query("SHOW plan_cache_mode")
        assert rows[0]["plan_cache_mode"] == "force_custom_plan"
        async with connection._pool.acquire() as raw:  # type: ignore[attr-defined]
            assert raw.get_reset_query() == ""
    else:
        _, rows = await connection.execute_query("PRAGMA synchronous")
        assert rows[0][0] == 1  # NORMAL
        _, rows = await connection.execute_query("PRAGMA journal_mode")
        assert rows[0][0] == "wal"
