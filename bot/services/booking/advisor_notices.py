"""Telling the booking's advisor that the customer booked, moved or cancelled it in chat.

Each notice is queued inside the transaction of the change it reports, with a dedup key naming
that change: a change that rolls back tells nobody, and a repeated 确认 or a WeChat retry, which
changes nothing the second time, tells nobody twice. A move is named by the place row it took,
so moving back to an earlier time later is told again. An advisor without a bound WeChat is told
nothing; the day sheet in the admin pages shows the change all the same.

The three are separate template messages (the title says what happened) with the same fields:
number, customer, service, time (the new time of a move, and its former time as keyword5).
"""

from __future__ import annotations

from datetime import datetime

from bot.models import Appointment, SlotPlace
from bot.services.customer_notices import Notice, Notifier

CREATED_TEMPLATE = "booking_created"
MOVED_TEMPLATE = "booking_moved"
CANCELLED_TEMPLATE = "booking_cancelled"


async def booked(appointment: Appointment, *, now: datetime, notifier: Notifier) -> None:
    key = f"booking-created:{appointment.id}"
    await _tell(appointment, "booking/advisor_notice", CREATED_TEMPLATE, key, now=now, notifier=notifier)


async def moved(
    appointment: Appointment, was: Appointment, place: SlotPlace, *, now: datetime, notifier: Notifier
) -> None:
    """`appointment` as moved, `was` as it stood before, `place` the place the move took."""
    key = f"booking-moved:{appointment.id}:{place.id}"
    await _tell(
        appointment, "booking/advisor_moved", MOVED_TEMPLATE, key, now=now, notifier=notifier, was=was
    )


async def cancelled(appointment: Appointment, *, now: datetime, notifier: Notifier) -> None:
    key = f"booking-cancelled:{appointment.id}"
    await _tell(appointment, "booking/advisor_cancelled", CANCELLED_TEMPLATE, key, now=now, notifier=notifier)


async def _tell(
    appointment: Appointment,
    template: str,
    template_name: str,
    dedup_key: str,
    *,
    now: datetime,
    notifier: Notifier,
    was: Appointment | None = None,
) -> None:
    """Queue the notice for the booking's advisor (`was`: the booking before a move)."""
    await appointment.fetch_related("customer", "vehicle")
    data = {
        "keyword1": appointment.number or "",
        "keyword2": appointment.customer.name,
        "keyword3": appointment.service_type.label,
        "keyword4": _at(appointment, notifier),
    }
    if was is not None:
        data["keyword5"] = _at(was, notifier)
    await notifier.to_staff(
        appointment.advisor_id,  # type: ignore[attr-defined]
        Notice(template, template_name, data, dedup_key),
        now=now,
        appointment=appointment,
        customer=appointment.customer,
        vehicle=appointment.vehicle,
        starts=notifier.local(appointment.starts_at),
        ends=notifier.local(appointment.ends_at),
        was=was,
    )


def _at(appointment: Appointment, notifier: Notifier) -> str:
    return f"{notifier.local(appointment.starts_at):%Y-%m-%d %H:%M}"
