"""Follow, unfollow and QR scans. An advisor's QR links the customer to that advisor; a staff
binding QR (`staff-bind:<token>`, shown on the admin staff page) binds the scanner's WeChat to
that staff member."""

import logging

from bot.conversation.context import Context
from bot.conversation.messages import Kind
from bot.conversation.replies import NoReply, Reply
from bot.conversation.router import Router
from bot.models import Staff
from bot.services import followers, staff_binding

log = logging.getLogger(__name__)
router = Router("subscription")


async def _advisor_for_scene(scene: str) -> Staff | None:
    if not scene:
        return None
    return await Staff.get_or_none(qr_scene=scene, active=True)


@router.event(Kind.SUBSCRIBE)
async def on_subscribe(ctx: Context) -> Reply:
    await followers.subscribe(ctx.follower, ctx.services.clock.now())
    if staff_binding.is_bind_scene(ctx.message.qr_scene):
        return await _bind_staff(ctx)
    advisor = await _advisor_for_scene(ctx.message.qr_scene)
    if advisor is not None:
        await followers.link_advisor(ctx.follower, advisor)
    return ctx.say("common/welcome", advisor=advisor, bound=ctx.customer is not None)


@router.event(Kind.SCAN)
async def on_scan(ctx: Context) -> Reply:
    if staff_binding.is_bind_scene(ctx.message.qr_scene):
        return await _bind_staff(ctx)
    advisor = await _advisor_for_scene(ctx.message.qr_scene)
    if advisor is None:
        log.info("scan of an unknown scene", extra={"scene": ctx.message.qr_scene})
        return NoReply()
    await followers.link_advisor(ctx.follower, advisor)
    return ctx.say("advisor/linked", advisor=advisor)


async def _bind_staff(ctx: Context) -> Reply:
    result = await staff_binding.bind_by_scene(
        ctx.message.qr_scene, ctx.message.openid, ctx.services.clock.now()
    )
    return ctx.say(f"staff/bind_{result.outcome.value}", staff=result.staff)


@router.event(Kind.UNSUBSCRIBE)
async def on_unsubscribe(ctx: Context) -> Reply:
    await followers.unsubscribe(ctx.follower, ctx.services.clock.now())
    return NoReply()
