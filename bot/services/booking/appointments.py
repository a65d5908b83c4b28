"""Making, moving and cancelling appointments, and marking how they ended.

The last place of a slot cannot be taken twice: an appointment holds a `SlotPlace` row numbered
1..capacity, unique per slot, inserted in the same transaction as the appointment. Two
concurrent requests for the last place both try to insert place n; the database lets one
commit and refuses the other, whose transaction then rolls back. Cancelling or moving deletes
the place row in the same transaction as the status change, so the place is free at once.

A booking made from chat carries the flow's `request_key` (unique), so a repeated 确认 gives
back the booking already made instead of a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import Appointment, AppointmentStatus, Customer, ServiceType, SlotPlace, Vehicle
from bot.services.booking import advisor_notices
from bot.services.booking.availability import Slot, day_offer
from bot.services.booking.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    DayNotBookable,
    SlotFull,
    SlotNotFound,
    Unbookable,
    VehicleNotFound,
)
from bot.services.customer_notices import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookingRequest:
    customer_id: int
    vehicle_id: int
    store_id: int
    service_type: ServiceType
    day: date
    window_id: int
    request_key: str | None = None


@dataclass(frozen=True)
class Booked:
    appointment: Appointment
    created: bool  # False: the request_key had booked already, nothing new was made


async def find_slot(
    store_id: int, service_type: ServiceType, day: date, window_id: int, *, now: datetime, tz: ZoneInfo
) -> Slot:
    """The slot a request names, with room in it, or the reason it cannot be booked."""
    offer = await day_offer(store_id, service_type, day, now=now, tz=tz)
    if offer.problem not in (None, Unbookable.FULL):
        raise DayNotBookable(day, offer.problem)  # type: ignore[arg-type]
    slot = next((s for s in offer.slots if s.window_id == window_id), None)
    if slot is None:
        raise SlotNotFound(f"window {window_id} does not take {service_type.value} bookings on {day}")
    if slot.free == 0:
        raise SlotFull(f"{day} {slot.starts:%H:%M} is fully booked for {service_type.value}")
    return slot


async def book(request: BookingRequest, *, now: datetime, notifier: Notifier) -> Booked:
    """Book the slot for the customer's vehicle and tell their advisor; SlotFull if it has no room."""
    if request.request_key is not None:
        earlier = await Appointment.get_or_none(request_key=request.request_key)
        if earlier is not None:
            return Booked(earlier, created=False)
    vehicle = await Vehicle.get_or_none(id=request.vehicle_id, customer_id=request.customer_id)
    if vehicle is None:
        raise VehicleNotFound(f"vehicle {request.vehicle_id} is not one of customer {request.customer_id}'s")
    customer = await Customer.get(id=request.customer_id)
    try:
        slot = await find_slot(
            request.store_id, request.service_type, request.day, request.window_id, now=now, tz=notifier.tz
        )
        async with in_transaction():
            appointment = await Appointment.create(
                request_key=request.request_key,
                customer_id=customer.id,
                vehicle_id=vehicle.id,
                store_id=request.store_id,
                advisor_id=customer.advisor_id,  # type: ignore[attr-defined]
                service_type=request.service_type,
                created_at=now,
                **_slot_fields(slot, notifier),
            )
            await _take_place(appointment, slot)
            appointment.number = f"B{notifier.local(now):%Y%m%d}-{appointment.id:04d}"
            await appointment.save(update_fields=["number"])
            await advisor_notices.booked(appointment, now=now, notifier=notifier)
    except (IntegrityError, SlotFull):
        # The same 确认 may arrive twice at once: the twin that lost the race finds the winner's booking.
        key = request.request_key
        earlier = await Appointment.get_or_none(request_key=key) if key is not None else None
        if earlier is None:
            raise
        return Booked(earlier, created=False)
    log.info(
        "appointment booked",
        extra={"appointment": appointment.number, "store_id": request.store_id, "day": str(request.day)},
    )
    return Booked(appointment, created=True)


async def reschedule(
    appointment_id: int,
    *,
    day: date,
    window_id: int,
    now: datetime,
    notifier: Notifier,
    customer_id: int | None = None,
) -> Appointment:
    """Move a booking to another slot and tell its advisor; the old place is freed in the same transaction.

    `customer_id` restricts the change to that customer's own bookings (chat always passes it).
    Moving it to the time it already has changes nothing and tells nobody.
    """
    appointment = await changeable(appointment_id, now=now, customer_id=customer_id)
    slot = await find_slot(
        appointment.store_id,  # type: ignore[attr-defined]
        appointment.service_type,
        day,
        window_id,
        now=now,
        tz=notifier.tz,
    )
    if (slot.day, slot.start_minute) == (appointment.day, appointment.start_minute):
        return appointment
    async with in_transaction():
        fields = {**_slot_fields(slot, notifier), "reminded_at": None}
        moved = await Appointment.filter(id=appointment.id, status=AppointmentStatus.BOOKED).update(**fields)
        if moved == 0:
            raise AppointmentClosed(f"appointment {appointment.number} was closed meanwhile")
        await SlotPlace.filter(appointment_id=appointment.id).delete()
        place = await _take_place(appointment, slot)
        moved_to = await Appointment.get(id=appointment.id)
        await advisor_notices.moved(moved_to, appointment, place, now=now, notifier=notifier)
    log.info("appointment moved", extra={"appointment": appointment.number, "day": str(day)})
    return moved_to


async def cancel(
    appointment_id: int, *, now: datetime, notifier: Notifier, customer_id: int | None = None
) -> Appointment:
    """Cancel, free the place at once and tell the advisor; cancelling a cancelled booking changes nothing."""
    appointment = await _find(appointment_id, customer_id)
    if appointment.status is AppointmentStatus.CANCELLED:
        return appointment
    await changeable(appointment_id, now=now, customer_id=customer_id)
    async with in_transaction():
        cancelled = await Appointment.filter(id=appointment.id, status=AppointmentStatus.BOOKED).update(
            status=AppointmentStatus.CANCELLED, cancelled_at=now
        )
        await SlotPlace.filter(appointment_id=appointment.id).delete()
        appointment = await Appointment.get(id=appointment.id)
        if cancelled:
            await advisor_notices.cancelled(appointment, now=now, notifier=notifier)
    if cancelled:
        log.info("appointment cancelled", extra={"appointment": appointment.number})
    return appointment


async def changeable(appointment_id: int, *, now: datetime, customer_id: int | None = None) -> Appointment:
    """The booking, if it may still be moved or cancelled (booked, and not yet started)."""
    appointment = await _find(appointment_id, customer_id)
    if appointment.status is not AppointmentStatus.BOOKED:
        raise AppointmentClosed(f"appointment {appointment.number} is {appointment.status.value}")
    if appointment.starts_at <= now:
        raise AppointmentClosed(f"appointment {appointment.number} has already started")
    return appointment


async def upcoming_for(customer_id: int, *, now: datetime) -> list[Appointment]:
    """The customer's bookings still to come, soonest first."""
    return (
        await Appointment.filter(customer_id=customer_id, status=AppointmentStatus.BOOKED, starts_at__gt=now)
        .order_by("starts_at", "id")
        .prefetch_related("vehicle", "store")
    )


async def day_sheet(store_id: int, day: date, *, advisor_id: int | None = None) -> list[Appointment]:
    """A store's appointments of one day (an advisor's own when `advisor_id`), cancelled ones left out."""
    query = Appointment.filter(store_id=store_id, day=day).exclude(status=AppointmentStatus.CANCELLED)
    if advisor_id is not None:
        query = query.filter(advisor_id=advisor_id)
    return await query.order_by("starts_at", "id").prefetch_related("customer", "vehicle", "advisor")


async def mark_arrived(appointment_id: int, *, now: datetime) -> Appointment:
    """The customer came (a work order opened, or the advisor ticked them off)."""
    return await _close(appointment_id, AppointmentStatus.FULFILLED, now=now)


async def mark_no_show(appointment_id: int, *, now: datetime) -> Appointment:
    appointment = await _find(appointment_id, None)
    if appointment.starts_at > now:
        raise AppointmentClosed(f"appointment {appointment.number} has not started yet")
    return await _close(appointment_id, AppointmentStatus.NO_SHOW, now=now)


async def fulfil_on_arrival(vehicle_id: int, day: date, *, now: datetime) -> Appointment | None:
    """The vehicle's booking for `day`, marked fulfilled; None when it came without one."""
    appointment = await Appointment.filter(
        vehicle_id=vehicle_id, day=day, status=AppointmentStatus.BOOKED
    ).first()
    if appointment is None:
        return None
    return await _close(appointment.id, AppointmentStatus.FULFILLED, now=now)


async def _find(appointment_id: int, customer_id: int | None) -> Appointment:
    query = Appointment.filter(id=appointment_id)
    if customer_id is not None:
        query = query.filter(customer_id=customer_id)
    appointment = await query.first()
    if appointment is None:
        raise AppointmentNotFound(f"no appointment {appointment_id}")
    return appointment


async def _close(appointment_id: int, status: AppointmentStatus, *, now: datetime) -> Appointment:
    """Booked -> fulfilled or no-show, once; the place stays taken (the bay was used or held)."""
    appointment = await _find(appointment_id, None)
    if appointment.status is status:
        return appointment
    closed = await Appointment.filter(id=appointment_id, status=AppointmentStatus.BOOKED).update(
        status=status, fulfilled_at=now if status is AppointmentStatus.FULFILLED else None
    )
    if not closed:
        raise AppointmentClosed(f"appointment {appointment.number} is {appointment.status.value}")
    return await Appointment.get(id=appointment_id)


def _slot_fields(slot: Slot, notifier: Notifier) -> dict[str, Any]:
    """The columns a slot fills, times in UTC: `update()` writes a datetime as given, and SQLite
    compares them as text, so a local time there would sort a moved booking out of order."""
    return {
        "day": slot.day,
        "start_minute": slot.start_minute,
        "end_minute": slot.end_minute,
        "starts_at": slot.starts_at(notifier.tz).astimezone(UTC),
        "ends_at": slot.ends_at(notifier.tz).astimezone(UTC),
        "off_peak_bonus": slot.off_peak_bonus,
    }


async def _take_place(appointment: Appointment, slot: Slot) -> SlotPlace:
    """Insert the lowest free place of the slot; the unique constraint decides between racers.

    Each attempt runs in a savepoint, so a lost race leaves the caller's transaction usable for
    the next place. Every lost race means someone else took a place, so trying each free number
    once is enough: when all are gone, the slot is full.
    """
    key = {
        "store_id": appointment.store_id,  # type: ignore[attr-defined]
        "day": slot.day,
        "start_minute": slot.start_minute,
        "service_type": appointment.service_type,
    }
    taken = set(await SlotPlace.filter(**key).values_list("place_no", flat=True))
    if len(taken) < slot.capacity:
        for place_no in (n for n in range(1, slot.capacity + 1) if n not in taken):
            try:
                async with in_transaction():
                    return await SlotPlace.create(**key, place_no=place_no, appointment_id=appointment.id)
            except IntegrityError:
                log.info("place taken by a concurrent booking", extra={**key, "place_no": place_no})
    raise SlotFull(f"{slot.day} {slot.starts:%H:%M} is fully booked for {appointment.service_type.value}")
