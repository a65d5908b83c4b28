"""`appointment-reminders`: remind customers of tomorrow's appointments, once each, never at night."""

from __future__ import annotations

from bot.scheduler.registry import JobContext, job
from bot.services.booking.reminders import remind_tomorrow
from bot.services.customer_notices import Notifier


@job("appointment-reminders")
async def appointment_reminders(ctx: JobContext) -> str:
    queued = await remind_tomorrow(now=ctx.clock.now(), notifier=Notifier.from_settings(ctx.settings))
    return f"{queued} appointment reminders queued"
