"""`escalate-complaints`: the complaint SLA clock, run every minute from durable database state.

Warnings, escalations and auto-closes are claimed in the database (see
`bot.services.complaints.escalation`), so any number of runners and any restart take each step
once. The job also copies complaint photos out of WeChat before they expire, and drains the
outbox at the end so the notices it queued go out now rather than at the next send-outbox run.
"""

from __future__ import annotations

from bot.scheduler.registry import JobContext, job
from bot.services import outbox
from bot.services.complaints import escalation, photos
from bot.services.complaints.notices import Notices


@job("escalate-complaints")
async def escalate_complaints(ctx: JobContext) -> str:
    steps = await escalation.run(Notices.from_settings(ctx.settings), ctx.clock.now())
    fetched = await photos.fetch_pending(ctx.wechat, ctx.settings.media_dir, ctx.clock.now())
    drained = await outbox.drain(ctx.wechat, ctx.settings, ctx.clock)
    return f"{steps}; {fetched}; outbox: {drained}"
