"""What can be booked: the slots of a day with their free places, and the next bookable days.

Free places are computed from the places taken (`SlotPlace` rows), so they are always those of
the bookings actually made. This is what the customer is offered; the database, not this count,
stops the last place being taken twice (see appointments.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.functions import Count

from bot.models import ClosedDay, ServiceType, SlotCapacity, SlotPlace, Store
from bot.models.booking import minute_to_time
from bot.services.booking.errors import Unbookable

HORIZON_DAYS = 30  # bookings are taken up to this many days ahead


@dataclass(frozen=True)
class Slot:
    window_id: int
    day: date
    start_minute: int
    end_minute: int
    capacity: int
    taken: int
    off_peak_bonus: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)

    @property
    def starts(self) -> time:
        return minute_to_time(self.start_minute)

    @property
    def ends(self) -> time:
        return minute_to_time(self.end_minute)

    def starts_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.day, self.starts, tzinfo=tz)

    def ends_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.day, self.ends, tzinfo=tz)

    def contains(self, moment: time) -> bool:
        return self.starts <= moment < self.ends


@dataclass(frozen=True)
class DayOffer:
    """One day for one service type: why it cannot be booked (or None), and its slots not yet started."""

    day: date
    problem: Unbookable | None
    slots: tuple[Slot, ...] = ()

    @property
    def open_slots(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.free > 0]


async def offers(
    store_id: int, service_type: ServiceType, first: date, last: date, *, now: datetime, tz: ZoneInfo
) -> list[DayOffer]:
    """Every day from `first` to `last` (clipped to today .. today + HORIZON_DAYS), in three queries."""
    today = now.astimezone(tz).date()
    first, last = max(first, today), min(last, today + timedelta(days=HORIZON_DAYS))
    if last < first:
        return []
    windows: dict[int, list[SlotCapacity]] = defaultdict(list)
    for capacity in await SlotCapacity.filter(
        window__store_id=store_id, service_type=service_type, capacity__gt=0
    ).prefetch_related("window"):
        windows[capacity.window.weekday].append(capacity)
    closed = {c.day for c in await ClosedDay.filter(store_id=store_id, day__gte=first, day__lte=last)}
    taken = await _taken(store_id, service_type, first, last)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [_offer(day, closed, windows[day.weekday()], taken, now, tz) for day in days]


async def day_offer(
    store_id: int, service_type: ServiceType, day: date, *, now: datetime, tz: ZoneInfo
) -> DayOffer:
    today = now.astimezone(tz).date()
    if day < today:
        return DayOffer(day, Unbookable.PAST)
    if day > today + timedelta(days=HORIZON_DAYS):
        return DayOffer(day, Unbookable.TOO_FAR)
    return (await offers(store_id, service_type, day, day, now=now, tz=tz))[0]


async def bookable_days(
    store_id: int, service_type: ServiceType, *, now: datetime, tz: ZoneInfo, limit: int = 5
) -> list[date]:
    """The next `limit` days with a free place for the service, today included."""
    today = now.astimezone(tz).date()
    found = await offers(store_id, service_type, today, today + timedelta(days=HORIZON_DAYS), now=now, tz=tz)
    return [offer.day for offer in found if offer.problem is None][:limit]


async def bookable_stores() -> list[Store]:
    """Stores that take online bookings: those with at least one window with places."""
    return await Store.filter(slot_windows__capacities__capacity__gt=0).distinct().order_by("id")


async def service_types_at(store_id: int) -> list[ServiceType]:
    """The service types the store takes bookings for, in the dealer's usual order."""
    offered = set(
        await SlotCapacity.filter(window__store_id=store_id, capacity__gt=0).values_list(
            "service_type", flat=True
        )
    )
    return [kind for kind in ServiceType if kind in offered]


async def _taken(
    store_id: int, service_type: ServiceType, first: date, last: date
) -> dict[tuple[date, int], int]:
    rows = (
        await SlotPlace.filter(store_id=store_id, service_type=service_type, day__gte=first, day__lte=last)
        .annotate(taken=Count("id"))
        .group_by("day", "start_minute")
        .values("day", "start_minute", "taken")
    )
    return {(row["day"], row["start_minute"]): row["taken"] for row in rows}


def _offer(
    day: date,
    closed: set[date],
    capacities: list[SlotCapacity],
    taken: dict[tuple[date, int], int],
    now: datetime,
    tz: ZoneInfo,
) -> DayOffer:
    if day in closed:
        return DayOffer(day, Unbookable.CLOSED)
    slots = sorted(
        (
            Slot(
                window_id=c.window.id,
                day=day,
                start_minute=c.window.start_minute,
                end_minute=c.window.end_minute,
                capacity=c.capacity,
                taken=taken.get((day, c.window.start_minute), 0),
                off_peak_bonus=c.window.off_peak_bonus,
            )
            for c in capacities
        ),
        key=lambda slot: slot.start_minute,
    )
    upcoming = tuple(slot for slot in slots if slot.starts_at(tz) > now)
    if not upcoming:
        return DayOffer(day, Unbookable.NO_HOURS)
    if all(slot.free == 0 for slot in upcoming):
        return DayOffer(day, Unbookable.FULL, upcoming)
    return DayOffer(day, None, upcoming)
