"""Imports every job module so that each registers itself."""

from bot.scheduler import appointment_reminders, escalate_complaints, send_outbox  # noqa: F401
