"""The day-before reminder of an appointment: once per booking and day, never in quiet hours.

The outbox dedup key (appointment and day) is what makes it once, whatever runs the job twice;
`reminded_at` only keeps reminded bookings out of the next run's query. The key is queued before
`reminded_at` is set, so a crash in between repeats the (deduplicated) enqueue instead of
skipping the reminder. A booking moved to another day is reminded again for the new day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.models import Appointment, AppointmentStatus
from bot.services.customer_notices import Notice, Notifier

TEMPLATE_NAME = "appointment_reminder"


async def remind_tomorrow(*, now: datetime, notifier: Notifier) -> int:
    """Queue a reminder for every booking of tomorrow (local time); returns how many were new."""
    tomorrow = notifier.local(now).date() + timedelta(days=1)
    due = await Appointment.filter(
        status=AppointmentStatus.BOOKED, day=tomorrow, reminded_at__isnull=True
    ).prefetch_related("vehicle", "store")
    reminded = 0
    for appointment in due:
        starts = notifier.local(appointment.starts_at)
        notice = Notice(
            template="booking/reminder",
            template_name=TEMPLATE_NAME,
            template_data={
                "keyword1": appointment.number or "",
                "keyword2": appointment.service_type.label,
                "keyword3": f"{starts:%Y-%m-%d %H:%M}",
                "keyword4": appointment.store.name,
            },
            dedup_key=f"appointment-reminder:{appointment.id}:{appointment.day.isoformat()}",
        )
        await notifier.to_customer(
            appointment.customer_id,  # type: ignore[attr-defined]
            notice,
            now=now,
            appointment=appointment,
            starts=starts,
            ends=notifier.local(appointment.ends_at),
        )
        reminded += await Appointment.filter(id=appointment.id, reminded_at__isnull=True).update(
            reminded_at=now
        )
    return reminded
