"""The aerich migrations build the schema the models describe, on SQLite and on PostgreSQL.

Every other test builds its schema with `generate_schemas`, so a model changed without a
migration would pass them all and break the first deployment (`python -m bot migrate`). Here
migrations/ is applied to an empty database and its tables and columns are compared with what
`generate_schemas` makes from the models on another empty database of the same dialect.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise

from bot.db import close_db, migrate, tortoise_config
from tests.backends import forget_dialect

Columns = dict[str, tuple[str, ...]]  # column -> (type, nullability)
Schema = dict[str, Columns]  # table -> columns

HOW_TO_FIX = (
    "The migrations in migrations/ do not build the schema the models describe. "
    "Run `python tools/makemigration.py NAME` (NAME says what changed) and commit the new file."
)


@dataclass(frozen=True)
class Scratch:
    """Two empty databases of one dialect, and how to read a schema back."""

    migrated_url: str
    generated_url: str
    read_schema: Callable[[str], Awaitable[Schema]]


async def read_sqlite_schema(url: str) -> Schema:
    with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: {
                column: (declared.upper(), "NOT NULL" if not_null or primary else "NULL")
                for _, column, declared, not_null, _, primary in connection.execute(
                    f'PRAGMA table_info("{table}")'
                )
            }
            for table in tables
        }


async def read_postgres_schema(url: str) -> Schema:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name, udt_name, character_maximum_length, is_nullable"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    schema: Schema = {}
    for row in rows:
        length = f"({row['character_maximum_length']})" if row["character_maximum_length"] else ""
        nullable = "NULL" if row["is_nullable"] == "YES" else "NOT NULL"
        schema.setdefault(row["table_name"], {})[row["column_name"]] = (row["udt_name"] + length, nullable)
    return schema


@pytest.fixture(params=["sqlite", "postgres"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scratch]:
    """Sync on purpose: the session's PostgreSQL fixture may start a server with asyncio.run."""
    if request.param == "sqlite":
        yield Scratch(
            f"sqlite://{tmp_path}/migrated.sqlite3",
            f"sqlite://{tmp_path}/generated.sqlite3",
            read_sqlite_schema,
        )
        return
    admin_url: str = request.getfixturevalue("postgres_server")
    names = [f"bot_migrations_{uuid.uuid4().hex[:10]}" for _ in range(2)]

    async def admin(*statements: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(*(f'CREATE DATABASE "{name}"' for name in names)))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield Scratch(f"{base}/{names[0]}", f"{base}/{names[1]}", read_postgres_schema)
    finally:
        asyncio.run(admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names)))


async def generate_schema(url: str) -> None:
    forget_dialect()
    await Tortoise.init(config=tortoise_config(url))
    try:
        await Tortoise.generate_schemas()
    finally:
        await close_db()


def differences(models: Schema, migrated: Schema) -> list[str]:
    """What the migrated schema lacks or has differently, one readable line per difference."""
    lines = [f"table {t}: missing (no migration creates it)" for t in sorted(models.keys() - migrated)]
    lines += [f"table {t}: left over (no model has it)" for t in sorted(migrated.keys() - models)]
    for table in sorted(models.keys() & migrated.keys()):
        want, got = models[table], migrated[table]
        lines += [f"column {table}.{c}: missing {want[c]}" for c in sorted(want.keys() - got)]
        lines += [f"column {table}.{c}: left over {got[c]}" for c in sorted(got.keys() - want)]
        lines += [
            f"column {table}.{c}: models say {want[c]}, migrations give {got[c]}"
            for c in sorted(want.keys() & got.keys())
            if want[c] != got[c]
        ]
    return lines


async def test_migrations_build_the_schema_of_the_models(scratch: Scratch) -> None:
    forget_dialect()
    await migrate(scratch.migrated_url)
    await generate_schema(scratch.generated_url)

    migrated = await scratch.read_schema(scratch.migrated_url)
    models = await scratch.read_schema(scratch.generated_url)

    assert "outbox" in models  # the reader sees tables at all
    problems = differences(models, migrated)
    assert not problems, HOW_TO_FIX + "\n  " + "\n  ".join(problems)


def test_differences_name_each_missing_table_and_column() -> None:
    models: Schema = {"store": {"id": ("INT", "NOT NULL"), "code": ("TEXT", "NULL")}, "rescue": {}}
    migrated: Schema = {"store": {"id": ("INT", "NOT NULL"), "code": ("INT", "NULL")}}

    assert differences(models, migrated) == [
        "table rescue: missing (no migration creates it)",
        "column store.code: models say ('TEXT', 'NULL'), migrations give ('INT', 'NULL')",
    ]
