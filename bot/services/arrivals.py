"""Arriving messages: kept in the inbound log, their senders' follower rows found or created.

Every message is logged (so nothing a customer sent is lost) and its follower loaded before it
is handled. One message at a time that took two commits and three statements, and under load
most of a message's time went there. Here the messages that arrive while a write is in flight
wait for the next write, which takes them all at once (`GroupCommit`): one statement per
batch on PostgreSQL (three on SQLite), no added delay when the bot is quiet, and a message is
still handled only once its log row is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any, cast

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField, JSONField
from tortoise.models import Model

from bot.clock import Clock
from bot.conversation.messages import Incoming
from bot.group_commit import MAX_BATCH, GroupCommit
from bot.models import Customer, Follower, InboundMessage, Staff

_encode_body = cast(JSONField[Any], InboundMessage._meta.fields_map["body"]).encoder  # as Tortoise writes it
Row = Mapping[str, Any]  # a follower's columns: a dict from SQLite, an asyncpg Record
RowWriter = Callable[[list[dict[str, Any]], list[str], datetime], Awaitable[list[Row]]]
_FOLLOWER_TIMES = tuple(
    name for name, field in Follower._meta.fields_map.items() if isinstance(field, DatetimeField)
)


class Arrivals:
    def __init__(self, clock: Clock, max_batch: int = MAX_BATCH) -> None:
        self._clock = clock
        self._write_rows: RowWriter | None = None
        # Writing a message again changes nothing, so a failed batch is written again one by one:
        # a bad message fails alone, and a dropped connection fails none.
        self._batches = GroupCommit(self._write, max_batch, session=self._rows_written_with, one_by_one=True)

    def admit(self, message: Incoming) -> asyncio.Future[Follower]:
        """Log `message`; the future is its sender's follower (created on first contact).

        A retry of a message already logged is not logged twice. A caller that turns out not to
        need the follower may leave the future unawaited without asyncio reporting it: a retry's
        log row is its first copy's, which that copy's handler waits for (and reports if lost).
        """
        admitted = self._batches.submit(message)
        admitted.add_done_callback(_retrieved)
        return admitted

    @asynccontextmanager
    async def _rows_written_with(self) -> AsyncIterator[None]:
        """What the batches written back to back use: on PostgreSQL one pooled connection for as
        long as they keep coming. Giving it back after each batch cost three turns of the event
        loop (asyncpg shields the release in a task of its own), a third of a batch's time under
        load, while the messages of the next batch waited."""
        db = connections.get("default")
        if db.capabilities.dialect == "sqlite":
            self._write_rows = partial(_write_sqlite, db)
            yield
            return
        async with db.acquire_connection() as connection:
            self._write_rows = partial(_write_postgres, connection)
            try:
                yield
            finally:
                self._write_rows = None

    async def _write(self, batch: list[Incoming]) -> list[Follower | Exception]:
        assert self._write_rows is not None, "written only within _rows_written_with"
        followers = await write_batch(batch, self._clock.now(), self._write_rows)
        return [followers[message.openid] for message in batch]


async def write_batch(messages: list[Incoming], now: datetime, write_rows: RowWriter) -> dict[str, Follower]:
    """Log the messages and return their senders' followers by openid.

    Written as SQL rather than through model instances: building, converting and re-reading ORM
    objects cost more than the database itself, and this runs for every message. No transaction
    around the statements: a log row without its follower is harmless (the message is kept;
    writing it again changes nothing). Rows go in sorted by key, so two instances inserting
    overlapping batches take their row locks in the same order and cannot deadlock.
    """
    logged = [_log_row(message) for message in sorted(messages, key=lambda m: m.key)]
    openids = sorted({m.openid for m in messages})
    followers = [Follower._init_from_db(**row) for row in await write_rows(logged, openids, now)]
    await _load_relations(followers)
    return {follower.openid: follower for follower in followers}


def _retrieved(future: asyncio.Future[Follower]) -> None:
    if not future.cancelled():
        future.exception()


def _log_row(message: Incoming) -> dict[str, Any]:
    return {
        "key": message.key,
        "openid": message.openid,
        "kind": message.kind.value,
        "is_user_message": message.kind.is_user_message,
        "body": _encode_body(message.log_body()),
        "received_at": message.created_at,
    }


def _insert_followers(openid: str, now: str) -> str:
    """The INSERT of followers seen for the first time (subscribed now, no failed bindings), up to
    where their values come from: `openid` and `now` are the dialect's expressions for them."""
    columns = '"openid", "subscribed", "subscribed_at", "bind_failures", "created_at"'
    return f'INSERT INTO "follower" ({columns}) SELECT {openid}, TRUE, {now}, 0, {now}'


async def _write_sqlite(
    db: BaseDBAsyncClient, logged: list[dict[str, Any]], openids: list[str], now: datetime
) -> list[Row]:
    """Three statements; executemany is a loop in C here. (An INSERT from a SELECT needs a WHERE
    before SQLite's ON CONFLICT, or the parser takes it for a join's ON.)"""
    log_sql = f"{_insert_into(InboundMessage, logged)} VALUES ({', '.join('?' * len(logged[0]))})"
    await db.execute_many(f"{log_sql} ON CONFLICT DO NOTHING", [list(row.values()) for row in logged])
    await db.execute_many(
        f"{_insert_followers('?1', '?2')} WHERE TRUE ON CONFLICT DO NOTHING", [[o, now] for o in openids]
    )
    return [
        _times_parsed(row)
        for row in await db.execute_query_dict(
            f'SELECT * FROM "follower" WHERE "openid" IN ({", ".join("?" * len(openids))})', openids
        )
    ]


async def _write_postgres(
    connection: asyncpg.Connection, logged: list[dict[str, Any]], openids: list[str], now: datetime
) -> list[Row]:
    """One statement, one round trip, whatever the batch size: each column goes as an array.

    (asyncpg's executemany sends and PostgreSQL executes each row on its own, and Tortoise wraps
    it in a transaction: two more round trips and a commit per table.) The statement's SELECT
    sees the followers that existed when it started, and `created` the ones it made; a follower
    another instance created at the same moment is in neither, so it is read once more.
    """
    log_arrays, log_values = _unnest(InboundMessage, logged, first=1)
    openid, when = f"${len(log_values) + 1}", f"${len(log_values) + 2}"
    rows: list[Row] = await connection.fetch(
        f"WITH logged AS ({_insert_into(InboundMessage, logged)} SELECT * FROM unnest({log_arrays})"
        f" ON CONFLICT DO NOTHING), created AS ({_insert_followers('openid', when)}"
        f" FROM unnest({openid}::VARCHAR[]) AS new (openid) ON CONFLICT DO NOTHING RETURNING *)"
        f' SELECT * FROM created UNION ALL SELECT * FROM "follower" WHERE "openid" = ANY({openid})',
        *log_values, openids, now,
    )  # fmt: skip
    missing = set(openids) - {row["openid"] for row in rows}
    if missing:
        rows += await connection.fetch(
            'SELECT * FROM "follower" WHERE "openid" = ANY($1::VARCHAR[])', sorted(missing)
        )
    return rows


def _insert_into(model: type[Model], rows: list[dict[str, Any]]) -> str:
    names = ", ".join(f'"{column}"' for column in rows[0])
    return f'INSERT INTO "{model._meta.db_table}" ({names})'


def _unnest(model: type[Model], rows: list[dict[str, Any]], first: int) -> tuple[str, list[list[Any]]]:
    """`unnest`'s parameters ($first, $first+1, ... cast to the columns' array types) and values:
    a list per column. Values go to the driver as they are (text, booleans, aware datetimes and
    encoded JSON), not through each field's checks: these rows are built here, not typed in."""
    columns = list(rows[0])
    fields = model._meta.fields_map
    arrays = ", ".join(
        f"${n}::{fields[column].get_for_dialect('postgres', 'SQL_TYPE')}[]"
        for n, column in enumerate(columns, first)
    )
    return arrays, [[row[column] for row in rows] for column in columns]


def _times_parsed(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite returns times as ISO text. Python's own parser (in C) reads it far faster than
    Tortoise's, which took about 6% of the bot's CPU under load. PostgreSQL's rows pass as they are."""
    for column in _FOLLOWER_TIMES:
        if isinstance(value := row[column], str):
            row[column] = datetime.fromisoformat(value)
    return row


async def _load_relations(followers: list[Follower]) -> None:
    """What handlers read from a follower: the bound customer with their advisor, and the advisor
    who referred them. Most senders have neither; those who do cost one query per relation
    (a customer deleted meanwhile loads as None, as its foreign key is about to be)."""
    customer_ids = {f.customer_id for f in followers if f.customer_id}  # type: ignore[attr-defined]
    advisor_ids = {f.advisor_id for f in followers if f.advisor_id}  # type: ignore[attr-defined]
    customers = (
        {c.id: c for c in await Customer.filter(id__in=customer_ids).select_related("advisor")}
        if customer_ids
        else {}
    )
    advisors = {s.id: s for s in await Staff.filter(id__in=advisor_ids)} if advisor_ids else {}
    for follower in followers:  # None when not set, as select_related loads them
        _attach(follower, "customer", customers.get(follower.customer_id))  # type: ignore[attr-defined]
        _attach(follower, "advisor", advisors.get(follower.advisor_id))  # type: ignore[attr-defined]


def _attach(instance: Model, relation: str, loaded: Model | None) -> None:
    """Set a loaded relation the way Tortoise's select_related does: straight into its cache
    slot. Assigning the attribute would run the model's setter checks for nothing: the ids
    are the ones just read."""
    object.__setattr__(instance, f"_{relation}", loaded)
