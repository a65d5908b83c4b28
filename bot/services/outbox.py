"""Putting messages into the outbox, and draining it through WeChat.

`enqueue` is idempotent by `dedup_key`, so a job that runs twice queues one message. `drain`
claims each due row with a conditional UPDATE before sending, so two drainers (two scheduler
processes, or `jobs run send-outbox` during a scheduled run) never send the same row; a drainer
that dies mid-send leaves a lease that expires, and the row is picked up again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.clock import Clock
from bot.models import MessageCategory, Outbox, OutboxStatus
from bot.services.channel import Channel, channel_for
from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.errors import Undeliverable, WeChatError

logger = logging.getLogger(__name__)

RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (30, 2 * 60, 10 * 60, 60 * 60, 3 * 3600, 6 * 3600, 12 * 3600)
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1  # the last failure marks the row failed
LEASE = timedelta(minutes=5)  # longer than any send; a crashed drainer's rows come back after it


class Outcome(StrEnum):
    SENT = "sent"
    RETRIED = "retried"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    NO_CHANNEL = "no_channel"


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    undeliverable: int = 0
    no_channel: int = 0

    def record(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retried {self.retried}, failed {self.failed}, "
            f"undeliverable {self.undeliverable}, no channel {self.no_channel}"
        )


async def enqueue(
    *,
    openid: str,
    text: str,
    category: MessageCategory,
    dedup_key: str,
    now: datetime,
    template_name: str | None = None,
    template_data: dict[str, str] | None = None,
    not_before: datetime | None = None,
) -> Outbox:
    """Queue a message once per `dedup_key`; a repeat returns the row already queued.

    `not_before` defers sending (quiet hours). The unique constraint, not the lookup, is what
    makes concurrent enqueues safe; the savepoint keeps a caller's transaction usable after it.
    """
    existing = await Outbox.get_or_none(dedup_key=dedup_key)
    if existing is not None:
        return existing
    try:
        async with in_transaction():
            return await Outbox.create(
                dedup_key=dedup_key,
                openid=openid,
                category=category,
                text=text,
                template_name=template_name,
                template_data=template_data,
                next_attempt_at=max(now, not_before) if not_before is not None else now,
                created_at=now,
            )
    except IntegrityError:
        return await Outbox.get(dedup_key=dedup_key)


async def drain(client: WeChatClient, settings: Settings, clock: Clock, *, limit: int = 100) -> DrainReport:
    """Send up to `limit` due messages, each by the channel WeChat's rules allow right now."""
    report = DrainReport()
    due = (
        await Outbox.filter(_due(clock.now()))
        .order_by("next_attempt_at", "id")
        .limit(limit)
        .values_list("id")
    )
    for (outbox_id,) in due:
        row = await _claim(outbox_id, clock.now())
        if row is not None:
            report.record(await _deliver(row, client, settings, clock))
    if due:
        logger.info("outbox drained", extra={"report": str(report)})
    return report


def _due(now: datetime) -> Q:
    """Pending and due, or left 'sending' by a drainer whose lease has run out."""
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    return Q(status__in=(OutboxStatus.PENDING, OutboxStatus.SENDING), next_attempt_at__lte=now) & lease_free


async def _claim(outbox_id: int, now: datetime) -> Outbox | None:
    """Take the row for this drainer only if it is still due; None when another drainer got it."""
    claimed = await Outbox.filter(_due(now), id=outbox_id).update(
        status=OutboxStatus.SENDING, locked_until=now + LEASE
    )
    return await Outbox.get(id=outbox_id) if claimed == 1 else None


async def _deliver(row: Outbox, client: WeChatClient, settings: Settings, clock: Clock) -> Outcome:
    channel = await channel_for(row, settings.template_ids, clock.now())
    if channel is None:
        await _finish(row, OutboxStatus.NO_CHANNEL)
        return Outcome.NO_CHANNEL
    try:
        if channel is Channel.CS:
            await client.send_text(row.openid, row.text)
        else:
            assert row.template_name is not None  # choose_channel picks templates only for named ones
            template_id = settings.template_ids[row.template_name]
            await client.send_template(row.openid, template_id, row.template_data or {})
    except Undeliverable as exc:
        await _finish(row, OutboxStatus.UNDELIVERABLE, channel=channel, last_error=str(exc))
        return Outcome.UNDELIVERABLE
    except Exception as exc:
        return await _retry_later(row, exc, clock.now())
    await _finish(row, OutboxStatus.SENT, channel=channel, sent_at=clock.now())
    return Outcome.SENT


async def _retry_later(row: Outbox, error: Exception, now: datetime) -> Outcome:
    """Back off exponentially; after MAX_ATTEMPTS the row is failed for staff to look at."""
    attempts = row.attempts + 1
    gives_up = attempts >= MAX_ATTEMPTS
    log = logger.warning if isinstance(error, WeChatError) else logger.exception
    log(
        "outbox send failed",
        extra={"outbox_id": row.id, "attempts": attempts, "gives_up": gives_up, "error": str(error)},
    )
    if gives_up:
        await _finish(row, OutboxStatus.FAILED, attempts=attempts, last_error=str(error))
        return Outcome.FAILED
    await _finish(
        row,
        OutboxStatus.PENDING,
        attempts=attempts,
        last_error=str(error),
        next_attempt_at=now + RETRY_DELAYS[attempts - 1],
    )
    return Outcome.RETRIED


async def _finish(row: Outbox, status: OutboxStatus, **changes: Any) -> None:
    """Record the outcome and release the lease."""
    row.update_from_dict({"status": status, "locked_until": None, **changes})
    await row.save(update_fields=["status", "locked_until", *changes])
    logger.info("outbox row done", extra={"outbox_id": row.id, "status": status.value, "openid": row.openid})
