"""What is said when no flow is waiting: a location or photo out of the blue."""

from bot.conversation.context import Context
from bot.conversation.messages import Kind
from bot.conversation.replies import Reply
from bot.conversation.router import Router

router = Router("common")


@router.event(Kind.LOCATION)
async def stray_location(ctx: Context) -> Reply:
    return ctx.say("common/stray_location")


@router.event(Kind.IMAGE)
async def stray_image(ctx: Context) -> Reply:
    return ctx.say("common/stray_image")


@router.event(Kind.OTHER)
async def unsupported(ctx: Context) -> Reply:
    return ctx.say("common/unsupported", original_type=ctx.message.original_type)
