"""WeChat followers: found or created on every message, with what handlers need pre-loaded."""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError

from bot.models import Follower, Staff


async def touch(openid: str, now: datetime) -> Follower:
    """The follower for `openid`, created on first contact (concurrent first contacts are fine).

    Only relations that are set are loaded: this runs on every message, and most messages come
    from followers with nothing to load.
    """
    follower = await Follower.get_or_none(openid=openid)
    if follower is None:
        try:
            return await Follower.create(openid=openid, subscribed_at=now)
        except IntegrityError:
            follower = await Follower.get(openid=openid)
    related = [
        *(("customer", "customer__advisor") if follower.customer_id else ()),  # type: ignore[attr-defined]
        *(("advisor",) if follower.advisor_id else ()),  # type: ignore[attr-defined]
    ]
    if related:
        await follower.fetch_related(*related)
    return follower


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
