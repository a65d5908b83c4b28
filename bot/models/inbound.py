"""Every message a customer sent, kept so that nothing a customer sent is lost.

`key` is WeChat's retry identity (MsgId, or FromUserName+CreateTime for events), unique, so
a retried message is stored once.
"""

from typing import Any

from tortoise import fields
from tortoise.models import Model


class InboundMessage(Model):
    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=128, unique=True)
    openid = fields.CharField(max_length=64)  # indexed with received_at (Meta.indexes)
    kind = fields.CharField(max_length=32)
    is_user_message = fields.BooleanField(default=True)
    body: fields.JSONField[dict[str, Any]] = fields.JSONField()
    received_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "inbound_message"
        indexes = (("openid", "received_at"),)
