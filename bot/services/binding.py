"""Binding an openid to a customer record: phone plus a plate that belongs to that phone.

A mismatch never says which half was wrong, and repeated misses are throttled, so nobody can
find out whose car a plate is by guessing phone numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.models import Customer, Follower, Vehicle

MAX_FAILURES = 5
BLOCK_FOR = timedelta(hours=24)


class BindOutcome(StrEnum):
    BOUND = "bound"
    NO_MATCH = "no_match"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class BindResult:
    outcome: BindOutcome
    customer: Customer | None = None
    attempts_left: int = 0


def is_blocked(follower: Follower, now: datetime) -> bool:
    return follower.bind_blocked_until is not None and follower.bind_blocked_until > now


async def bind(follower: Follower, phone: str, plate: str, now: datetime) -> BindResult:
    if is_blocked(follower, now):
        return BindResult(BindOutcome.BLOCKED)
    vehicle = await Vehicle.get_or_none(plate=plate, customer__phone=phone).prefetch_related(
        "customer", "customer__advisor"
    )
    if vehicle is None:
        return await _record_miss(follower, now)
    customer: Customer = vehicle.customer
    follower.customer, follower.bound_at = customer, now
    follower.bind_failures, follower.bind_blocked_until = 0, None
    if customer.advisor_id is None and follower.advisor_id is not None:  # type: ignore[attr-defined]
        customer.advisor_id = follower.advisor_id  # type: ignore[attr-defined]
        await customer.save(update_fields=["advisor_id"])
        await customer.fetch_related("advisor")
    await follower.save(update_fields=["customer_id", "bound_at", "bind_failures", "bind_blocked_until"])
    return BindResult(BindOutcome.BOUND, customer)


async def _record_miss(follower: Follower, now: datetime) -> BindResult:
    follower.bind_failures += 1
    if follower.bind_failures >= MAX_FAILURES:
        follower.bind_failures, follower.bind_blocked_until = 0, now + BLOCK_FOR
        await follower.save(update_fields=["bind_failures", "bind_blocked_until"])
        return BindResult(BindOutcome.BLOCKED)
    await follower.save(update_fields=["bind_failures"])
    return BindResult(BindOutcome.NO_MATCH, attempts_left=MAX_FAILURES - follower.bind_failures)


async def vehicles_of(customer: Customer) -> list[Vehicle]:
    """Only the bound customer's own vehicles, ever."""
    return await Vehicle.filter(customer_id=customer.id).order_by("id")
