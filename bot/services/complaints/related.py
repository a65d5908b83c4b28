"""The customer's recent work orders and bookings, offered as what a complaint is about.

Only the customer's own records are offered; with none, the chat skips the question.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Appointment, AppointmentStatus, WorkOrder

RECENT = 3
WORK_ORDER = "work_order"
APPOINTMENT = "appointment"


@dataclass(frozen=True)
class RelatedRecord:
    kind: str  # WORK_ORDER or APPOINTMENT
    id: int
    label: str  # the record's number (its id until it has one)


async def recent_for(customer_id: int, *, per_kind: int = RECENT) -> list[RelatedRecord]:
    """The latest work orders, then the latest bookings that were not cancelled."""
    orders = await WorkOrder.filter(customer_id=customer_id).order_by("-opened_at", "-id").limit(per_kind)
    bookings = (
        await Appointment.filter(customer_id=customer_id)
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("-starts_at", "-id")
        .limit(per_kind)
    )
    return [RelatedRecord(WORK_ORDER, o.id, o.number or str(o.id)) for o in orders] + [
        RelatedRecord(APPOINTMENT, b.id, b.number or str(b.id)) for b in bookings
    ]
