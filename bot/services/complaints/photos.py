"""Complaint photos: recorded with their WeChat media id at once, copied into storage afterwards.

The copy happens after the customer has had their reply (the escalate-complaints job drains the
pending ones every minute), so a slow or failing WeChat media API never delays the chat. Each
fetch is claimed with a conditional update and a lease, retried with growing delays (up to 3 hours), and
given up only once WeChat's 3-day copy is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.models import Complaint, ComplaintPhoto
from bot.services import media
from bot.wechat.client import WeChatClient

log = logging.getLogger(__name__)

WECHAT_MEDIA_LIFETIME = timedelta(days=3)
LEASE = timedelta(minutes=5)
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 180))
MAX_PHOTOS = 9


@dataclass(frozen=True)
class IncomingPhoto:
    media_id: str
    picture_url: str = ""


@dataclass
class FetchReport:
    stored: int = 0
    retried: int = 0
    given_up: int = 0

    def __str__(self) -> str:
        return f"photos stored {self.stored}, retried {self.retried}, given up {self.given_up}"


async def attach(
    complaint: Complaint, photos: Iterable[IncomingPhoto], now: datetime
) -> list[ComplaintPhoto]:
    """Record photos on the complaint, each media id once however often it is sent."""
    attached = []
    for photo in photos:
        try:
            async with in_transaction():
                row = await ComplaintPhoto.create(
                    complaint_id=complaint.id,
                    media_id=photo.media_id,
                    picture_url=photo.picture_url,
                    received_at=now,
                    next_attempt_at=now,
                )
        except IntegrityError:
            row = await ComplaintPhoto.get(complaint_id=complaint.id, media_id=photo.media_id)
        attached.append(row)
    return attached


async def fetch_pending(wechat: WeChatClient, folder: Path, now: datetime, *, limit: int = 20) -> FetchReport:
    """Copy due photos into `folder`; safe to run from several processes at once."""
    report = FetchReport()
    due = (
        await ComplaintPhoto.filter(_due(now))
        .order_by("next_attempt_at", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    for photo_id in due:
        if await ComplaintPhoto.filter(_due(now), id=photo_id).update(locked_until=now + LEASE) != 1:
            continue  # another runner took it
        photo = await ComplaintPhoto.get(id=photo_id)
        await _fetch(photo, wechat, folder, now, report)
    return report


def _due(now: datetime) -> Q:
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    return Q(fetched_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=now) & lease_free


async def _fetch(
    photo: ComplaintPhoto, wechat: WeChatClient, folder: Path, now: datetime, report: FetchReport
) -> None:
    try:
        stored = await media.fetch_into(
            wechat, photo.media_id, folder, subdir=f"complaints/{photo.complaint_id}"
        )
    except Exception as exc:  # any failure is retried; the row keeps the reason
        attempts = photo.attempts + 1
        expired = now >= photo.received_at + WECHAT_MEDIA_LIFETIME
        log.warning(
            "complaint photo fetch failed",
            extra={"photo_id": photo.id, "attempts": attempts, "gives_up": expired, "error": str(exc)},
        )
        photo.attempts, photo.last_error, photo.locked_until = attempts, str(exc), None
        if expired:
            photo.gave_up_at = now
            report.given_up += 1
        else:
            photo.next_attempt_at = now + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
            report.retried += 1
        await photo.save(
            update_fields=["attempts", "last_error", "locked_until", "gave_up_at", "next_attempt_at"]
        )
        return
    photo.path, photo.size, photo.fetched_at, photo.locked_until = stored.path, stored.size, now, None
    await photo.save(update_fields=["path", "size", "fetched_at", "locked_until"])
    report.stored += 1
