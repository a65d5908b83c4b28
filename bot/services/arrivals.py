"""Arriving messages: kept in the inbound log, their senders' follower rows found or created.

Every message is logged (so nothing a customer sent is lost) and its follower loaded before it
is handled. One message at a time that took two commits and three statements, and under load
most of a message's time went there. Here the messages that arrive while a write is in flight
wait for the next write, which takes them all at once (`GroupCommit`): three statements per
batch, no added delay when the bot is quiet, and a message is still handled only once its
log row is committed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField, JSONField
from tortoise.models import Model

from bot.clock import Clock
from bot.conversation.messages import Incoming
from bot.group_commit import MAX_BATCH, GroupCommit
from bot.models import Customer, Follower, InboundMessage, Staff

log = logging.getLogger(__name__)

_encode_body = cast(JSONField[Any], InboundMessage._meta.fields_map["body"]).encoder  # as Tortoise writes it
_FOLLOWER_TIMES = tuple(
    name for name, field in Follower._meta.fields_map.items() if isinstance(field, DatetimeField)
)


class Arrivals:
    def __init__(self, clock: Clock, max_batch: int = MAX_BATCH) -> None:
        self._clock = clock
        self._batches = GroupCommit(self._write, max_batch)

    async def admit(self, message: Incoming) -> Follower:
        """Log `message` and return its sender's follower (created on first contact).

        A retry of a message already logged is not logged twice.
        """
        return await self._batches.submit(message)

    async def _write(self, batch: list[Incoming]) -> list[Follower | Exception]:
        """Write a batch; if that fails, each message alone, so one bad message fails alone."""
        try:
            followers = await write_batch(batch, self._clock.now())
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.warning("arrival batch failed; writing its messages one by one", exc_info=True)
            return [result for message in batch for result in await self._write([message])]
        return [followers[message.openid] for message in batch]


async def write_batch(messages: list[Incoming], now: datetime) -> dict[str, Follower]:
    """Log the messages and return their senders' followers by openid.

    Three statements, written as SQL rather than through model instances: building, converting
    and re-reading ORM objects cost more than the database itself, and this runs for every
    message. No transaction around them: a log row without its follower is harmless (the message
    is kept; writing it again changes nothing). Rows go in sorted by key, so two instances
    inserting overlapping batches take their row locks in the same order and cannot deadlock.
    """
    db = connections.get("default")
    openids = sorted({message.openid for message in messages})
    logged = sorted(messages, key=lambda m: m.key)
    await _insert_new(db, InboundMessage, [_log_row(message) for message in logged])
    await _insert_new(db, Follower, [_new_follower_row(openid, now) for openid in openids])
    followers = await _followers(db, openids)
    await _load_relations(followers)
    return {follower.openid: follower for follower in followers}


def _log_row(message: Incoming) -> dict[str, Any]:
    return {
        "key": message.key,
        "openid": message.openid,
        "kind": message.kind.value,
        "is_user_message": message.kind.is_user_message,
        "body": _encode_body(message.log_body()),
        "received_at": message.created_at,
    }


def _new_follower_row(openid: str, now: datetime) -> dict[str, Any]:
    return {"openid": openid, "subscribed": True, "subscribed_at": now, "bind_failures": 0, "created_at": now}


async def _insert_new(db: BaseDBAsyncClient, model: type[Model], rows: list[dict[str, Any]]) -> None:
    """INSERT the rows, skipping any whose unique key is already there.

    Values go to the driver as they are (text, booleans, aware datetimes and encoded JSON, which
    both drivers take), not through each field's checks: these rows are built here, not typed in.
    SQLite's executemany is a loop in C; PostgreSQL gets one statement taking a column per array
    parameter, since asyncpg's executemany sends and PostgreSQL executes each row on its own and
    Tortoise wraps it in a transaction of its own (two more round trips and a commit).
    """
    columns = list(rows[0])
    names = ", ".join(f'"{column}"' for column in columns)
    insert = f'INSERT INTO "{model._meta.db_table}" ({names})'
    if db.capabilities.dialect == "sqlite":
        values = ", ".join("?" * len(columns))
        await db.execute_many(
            f"{insert} VALUES ({values}) ON CONFLICT DO NOTHING", [list(row.values()) for row in rows]
        )
        return
    arrays = ", ".join(f"${n}::{_sql_type(model, column)}[]" for n, column in enumerate(columns, 1))
    await db.execute_query(
        f"{insert} SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING",
        [[row[column] for row in rows] for column in columns],
    )


def _sql_type(model: type[Model], column: str) -> str:
    """The column's PostgreSQL type as Tortoise creates it (VARCHAR(64), JSONB, TIMESTAMPTZ...)."""
    return str(model._meta.fields_map[column].get_for_dialect("postgres", "SQL_TYPE"))


async def _followers(db: BaseDBAsyncClient, openids: list[str]) -> list[Follower]:
    if db.capabilities.dialect == "sqlite":
        matching, values = f"IN ({', '.join('?' * len(openids))})", openids
    else:  # one statement for any number of openids, prepared once
        matching, values = "= ANY($1::VARCHAR[])", [openids]
    rows = await db.execute_query_dict(f'SELECT * FROM "follower" WHERE "openid" {matching}', values)
    return [Follower._init_from_db(**_times_parsed(row)) for row in rows]


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
