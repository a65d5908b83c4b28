"""Service notices pushed unasked (appointment, progress, 增项): rendered once, queued, never at night.

Most go to the customer; what the customer does in chat that their advisor must act on (a booking
made, moved or cancelled, a 增项 answered) goes to the advisor's bound WeChat the same way.

Every notice goes through the outbox with a dedup key, so a step that runs twice queues one
message, and with `not_before` moved out of quiet hours, so a car that is ready at 22:00 is
announced at 08:00 instead of waking the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.conversation.texts import Texts
from bot.models import Follower, MessageCategory, Outbox, Staff
from bot.services import outbox
from bot.services.quiet_hours import next_allowed
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One message: the text template, the WeChat template message it maps to, and its dedup key."""

    template: str  # e.g. "progress/ready" under bot/templates/replies
    template_name: str  # the template message name in settings.template_ids
    template_data: Mapping[str, str]
    dedup_key: str


@dataclass(frozen=True)
class Notifier:
    """What pushing needs besides the database: the reply templates and the dealer's time zone."""

    texts: Texts
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(Texts(settings.templates_dir), settings.tz)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    async def to_customer(
        self, customer_id: int, notice: Notice, *, now: datetime, **values: Any
    ) -> list[Outbox]:
        """Queue `notice` for every subscribed WeChat follower bound to the customer (none: nothing)."""
        openids = await Follower.filter(customer_id=customer_id, subscribed=True).values_list(
            "openid", flat=True
        )
        return [await self.to_openid(str(openid), notice, now=now, **values) for openid in openids]

    async def to_staff(
        self, staff_id: int | None, notice: Notice, *, now: datetime, **values: Any
    ) -> Outbox | None:
        """Queue `notice` for an active staff member's bound WeChat; None when there is none to reach.

        Nothing is lost then: what the notice reports is in the admin pages all the same.
        """
        staff = await Staff.get_or_none(id=staff_id, active=True) if staff_id is not None else None
        if staff is None or not staff.openid:
            log.info("no staff wechat to tell", extra={"notice": notice.dedup_key, "staff_id": staff_id})
            return None
        return await self.to_openid(staff.openid, notice, now=now, **values)

    async def to_openid(self, openid: str, notice: Notice, *, now: datetime, **values: Any) -> Outbox:
        return await outbox.enqueue(
            openid=openid,
            text=self.texts.render(notice.template, **values),
            category=MessageCategory.SERVICE,
            dedup_key=f"{notice.dedup_key}:{openid}",
            now=now,
            template_name=notice.template_name,
            template_data=dict(notice.template_data),
            not_before=next_allowed(now, self.tz),
        )
