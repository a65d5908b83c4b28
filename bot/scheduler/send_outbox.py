"""`send-outbox`: deliver due outbox rows through WeChat, by the channel its rules allow."""

from __future__ import annotations

from bot.scheduler.registry import JobContext, job
from bot.services.outbox import drain


@job("send-outbox")
async def send_outbox(ctx: JobContext) -> str:
    return str(await drain(ctx.wechat, ctx.settings, ctx.clock))
