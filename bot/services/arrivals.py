"""Arriving messages: kept in the inbound log, their senders' follower rows found or created.

Every message is logged (so nothing a customer sent is lost) and its follower loaded before it
is handled. One message at a time that took two commits and three statements, and under load
most of a message's time went there. Here the messages that arrive while a write is in flight
wait for the next write, which takes them all at once (a group commit): three statements per
batch, no added delay when the bot is quiet, and a message is still handled only once its
log row is committed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.conversation.messages import Incoming
from bot.models import Follower, InboundMessage

log = logging.getLogger(__name__)

MAX_BATCH = 256
# What handlers read from a follower: the bound customer's advisor, or the advisor who referred
# them. Joined in the same query; a relation that is not set loads as None.
FOLLOWER_RELATIONS = ("customer__advisor", "advisor")


@dataclass(frozen=True)
class _Arrival:
    message: Incoming
    follower: asyncio.Future[Follower]


class Arrivals:
    def __init__(self, clock: Clock, max_batch: int = MAX_BATCH) -> None:
        self._clock = clock
        self._max_batch = max_batch
        self._queue: list[_Arrival] = []
        self._writer: asyncio.Task[None] | None = None

    async def admit(self, message: Incoming) -> Follower:
        """Log `message` and return its sender's follower (created on first contact).

        A retry of a message already logged is not logged twice.
        """
        arrival = _Arrival(message, asyncio.get_running_loop().create_future())
        self._queue.append(arrival)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return await arrival.follower

    async def _write_queued(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[_Arrival]) -> None:
        """Write a batch; if that fails, each message alone, so one bad message fails alone."""
        try:
            followers = await write_batch([arrival.message for arrival in batch], self._clock.now())
        except Exception as exc:
            if len(batch) > 1:
                log.warning("arrival batch failed; writing its messages one by one", exc_info=True)
                for arrival in batch:
                    await self._write([arrival])
            elif not batch[0].follower.done():
                batch[0].follower.set_exception(exc)
            return
        for arrival in batch:
            if not arrival.follower.done():  # its handler may have been cancelled meanwhile
                arrival.follower.set_result(followers[arrival.message.openid])


async def write_batch(messages: list[Incoming], now: datetime) -> dict[str, Follower]:
    """Log the messages and return their senders' followers by openid: three statements.

    No transaction around them: a log row without its follower is harmless (the message is
    kept; writing it again changes nothing). Rows go in sorted by key, so two instances
    inserting overlapping batches take their row locks in the same order and cannot deadlock.
    """
    openids = sorted({message.openid for message in messages})
    await InboundMessage.bulk_create(
        [_log_row(message) for message in sorted(messages, key=lambda m: m.key)], ignore_conflicts=True
    )
    await Follower.bulk_create(
        [Follower(openid=openid, subscribed_at=now) for openid in openids], ignore_conflicts=True
    )
    found = await Follower.filter(openid__in=openids).select_related(*FOLLOWER_RELATIONS)
    return {follower.openid: follower for follower in found}


def _log_row(message: Incoming) -> InboundMessage:
    return InboundMessage(
        key=message.key,
        openid=message.openid,
        kind=message.kind.value,
        is_user_message=message.kind.is_user_message,
        body=message.log_body(),
        received_at=message.created_at,
    )
