"""A store's booking capacity: weekly time windows, places per service type, and closed days.

Edited on the store settings page. Changing the windows never moves or drops a booking already
made (appointments keep their own copy of the times); closing a day returns the bookings on it
so that staff can call those customers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from itertools import pairwise

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import Appointment, AppointmentStatus, ClosedDay, ServiceType, SlotCapacity, SlotWindow
from bot.services.booking.errors import CapacityConfigError

MAX_CAPACITY = 99


@dataclass(frozen=True)
class WindowSpec:
    """One window as staff enter it; a service type left out takes no bookings in it."""

    starts: time
    ends: time
    capacity: Mapping[ServiceType, int] = field(default_factory=dict)
    off_peak_bonus: int = 0

    @property
    def start_minute(self) -> int:
        return self.starts.hour * 60 + self.starts.minute

    @property
    def end_minute(self) -> int:
        return self.ends.hour * 60 + self.ends.minute


def validate(weekdays: Sequence[int], windows: Sequence[WindowSpec]) -> None:
    """Refuse a configuration that could not be booked sensibly, naming every problem."""
    problems = [f"weekday {d} is not 0 (Monday) .. 6 (Sunday)" for d in weekdays if not 0 <= d <= 6]
    ordered = sorted(windows, key=lambda w: w.start_minute)
    for window in ordered:
        span = f"{window.starts:%H:%M}-{window.ends:%H:%M}"
        if window.end_minute <= window.start_minute:
            problems.append(f"window {span} ends before it starts")
        if window.off_peak_bonus < 0:
            problems.append(f"window {span} has a negative off-peak bonus")
        problems.extend(
            f"window {span}: capacity for {kind.label} must be 0..{MAX_CAPACITY}"
            for kind, places in window.capacity.items()
            if not 0 <= places <= MAX_CAPACITY
        )
    problems.extend(
        f"windows {a.starts:%H:%M}-{a.ends:%H:%M} and {b.starts:%H:%M}-{b.ends:%H:%M} overlap"
        for a, b in pairwise(ordered)
        if b.start_minute < a.end_minute
    )
    if problems:
        raise CapacityConfigError("; ".join(problems))


async def set_windows(store_id: int, weekdays: Iterable[int], windows: Sequence[WindowSpec]) -> None:
    """Replace the windows of `weekdays` (e.g. Monday to Friday) with `windows`; [] closes them."""
    days = sorted(set(weekdays))
    validate(days, windows)
    async with in_transaction():
        await SlotWindow.filter(store_id=store_id, weekday__in=days).delete()
        for weekday in days:
            for spec in windows:
                window = await SlotWindow.create(
                    store_id=store_id,
                    weekday=weekday,
                    start_minute=spec.start_minute,
                    end_minute=spec.end_minute,
                    off_peak_bonus=spec.off_peak_bonus,
                )
                await SlotCapacity.bulk_create(
                    [
                        SlotCapacity(window=window, service_type=kind, capacity=places)
                        for kind, places in spec.capacity.items()
                        if places > 0
                    ]
                )


async def week_of(store_id: int) -> list[SlotWindow]:
    """Every window of the store, Monday first, with its capacities loaded."""
    return (
        await SlotWindow.filter(store_id=store_id)
        .order_by("weekday", "start_minute")
        .prefetch_related("capacities")
    )


async def close_day(store_id: int, day: date, reason: str = "") -> list[Appointment]:
    """Take no more bookings on `day`; returns the bookings already made for it (to be called)."""
    try:
        async with in_transaction():
            await ClosedDay.create(store_id=store_id, day=day, reason=reason)
    except IntegrityError:
        await ClosedDay.filter(store_id=store_id, day=day).update(reason=reason)
    return await Appointment.filter(store_id=store_id, day=day, status=AppointmentStatus.BOOKED).order_by(
        "starts_at"
    )


async def reopen_day(store_id: int, day: date) -> bool:
    """Take bookings on `day` again; False when it was not closed."""
    return await ClosedDay.filter(store_id=store_id, day=day).delete() > 0


async def closed_days(store_id: int, since: date) -> list[ClosedDay]:
    return await ClosedDay.filter(store_id=store_id, day__gte=since).order_by("day")
