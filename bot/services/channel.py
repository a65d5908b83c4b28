"""WeChat's channel rules: which way, if any, a pushed message may reach a customer now.

Customer-service messages are allowed only inside a quota the customer opened: 5 in the 48 hours
after their last message, 3 in the minute after a menu click, follow or scan. Template messages
are for service notices only; offers never go by template, so an offer with no open window has
no channel and goes to the advisor's call list instead.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.expressions import Q

from bot.models import InboundMessage, MessageCategory, Outbox, OutboxStatus


class Channel(StrEnum):
    CS = "cs"  # customer-service message
    TEMPLATE = "template"


@dataclass(frozen=True)
class CsRule:
    """Which inbound rows open a customer-service window, for how long, for how many messages."""

    opened_by: Q
    length: timedelta
    quota: int


CS_RULES = (
    CsRule(Q(is_user_message=True), timedelta(hours=48), 5),
    CsRule(Q(kind__in=("click", "subscribe", "scan")), timedelta(minutes=1), 3),
)
TEMPLATE_CATEGORIES = frozenset({MessageCategory.REPLY, MessageCategory.SERVICE})


@dataclass(frozen=True)
class CsWindow:
    opened_at: datetime
    quota: int
    used: int  # customer-service messages sent since it opened


def choose_channel(
    category: MessageCategory,
    template_name: str | None,
    template_ids: Mapping[str, str],
    windows: Iterable[CsWindow],
) -> Channel | None:
    """The rule itself, free of I/O: an open window first, then a template for service notices."""
    if any(window.used < window.quota for window in windows):
        return Channel.CS
    if category in TEMPLATE_CATEGORIES and template_name is not None and template_name in template_ids:
        return Channel.TEMPLATE
    return None


async def open_cs_windows(openid: str, now: datetime) -> list[CsWindow]:
    """The customer-service windows the customer has open at `now`, with their quota used so far."""
    windows = []
    for rule in CS_RULES:
        opener = (
            await InboundMessage.filter(
                rule.opened_by, openid=openid, received_at__gt=now - rule.length, received_at__lte=now
            )
            .order_by("-received_at")
            .first()
        )
        if opener is None:
            continue
        used = await Outbox.filter(
            openid=openid, channel=Channel.CS, status=OutboxStatus.SENT, sent_at__gte=opener.received_at
        ).count()
        windows.append(CsWindow(opened_at=opener.received_at, quota=rule.quota, used=used))
    return windows


async def channel_for(message: Outbox, template_ids: Mapping[str, str], now: datetime) -> Channel | None:
    """The channel an outbox row may use now, or None when WeChat's rules allow none."""
    windows = await open_cs_windows(message.openid, now)
    return choose_channel(message.category, message.template_name, template_ids, windows)
