"""The inbound log: every message kept once, so nothing a customer sent is ever lost."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from bot.conversation.messages import Incoming
from bot.models import InboundMessage


async def record(message: Incoming) -> None:
    try:
        await InboundMessage.create(
            key=message.key,
            openid=message.openid,
            kind=message.kind.value,
            is_user_message=message.kind.is_user_message,
            body=message.log_body(),
            received_at=message.created_at,
        )
    except IntegrityError:
        pass  # already recorded by an earlier attempt
