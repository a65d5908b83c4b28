"""Imports every job module so that each registers itself."""

from bot.scheduler import send_outbox  # noqa: F401
