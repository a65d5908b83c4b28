"""WeChat followers: subscribed, unsubscribed, referred by an advisor (created in `arrivals`)."""

from __future__ import annotations

from datetime import datetime

from bot.models import Follower, Staff


async def subscribe(follower: Follower, now: datetime) -> None:
    follower.subscribed, follower.subscribed_at, follower.unsubscribed_at = True, now, None
    await follower.save(update_fields=["subscribed", "subscribed_at", "unsubscribed_at"])


async def unsubscribe(follower: Follower, now: datetime) -> None:
    """Marked unreachable: no more pushes, but the record and bindings stay."""
    follower.subscribed, follower.unsubscribed_at = False, now
    await follower.save(update_fields=["subscribed", "unsubscribed_at"])


async def link_advisor(follower: Follower, advisor: Staff) -> None:
    """A scan of an advisor's QR makes them this customer's advisor."""
    follower.advisor = advisor
    await follower.save(update_fields=["advisor_id"])
    customer = follower.customer if follower.customer_id else None  # type: ignore[attr-defined]
    if customer is not None:
        customer.advisor = advisor
        await customer.save(update_fields=["advisor_id"])
