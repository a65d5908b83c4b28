"""The durable outbox: every message the bot pushes is a row first, sent by `send-outbox`.

A push is never a fire-and-forget API call: a crash, a WeChat outage or an expired token
leaves the row pending, and the next run sends it.
"""

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    NO_CHANNEL = "no_channel"


class MessageCategory(StrEnum):
    REPLY = "reply"  # a late answer to what the customer just sent
    SERVICE = "service"  # appointment, progress, expiry, complaint handling
    MARKETING = "marketing"  # offers, coupons, points promotions: never by template


class Outbox(Model):
    id = fields.BigIntField(primary_key=True)
    dedup_key = fields.CharField(max_length=191, unique=True)
    openid = fields.CharField(max_length=64, db_index=True)
    category = fields.CharEnumField(MessageCategory, max_length=16)
    text = fields.TextField()
    template_name = fields.CharField(max_length=64, null=True)
    template_data: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    status = fields.CharEnumField(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    channel = fields.CharField(max_length=16, null=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    next_attempt_at = fields.DatetimeField(db_index=True)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        indexes = (("status", "next_attempt_at"),)
