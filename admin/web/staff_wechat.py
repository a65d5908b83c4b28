"""Binding a staff member's WeChat from their page: show a one-time QR code, or unbind.

The QR code comes from WeChat's API (a temporary code whose scene is the staff binding token,
see bot/services/staff_binding.py). Its ticket is kept in the admin's session, so the staff
page can show it again after the redirect, until it is used, replaced or out of date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from aiohttp_session import get_session

from admin.access import Permission
from admin.auth import requires
from admin.web.scoping import scoped_staff
from admin.web.sessions import flash
from bot.app import CLOCK, WECHAT
from bot.models import Staff
from bot.services import staff_binding
from bot.wechat.errors import WeChatError

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SHOWN_QR = "wechat_qr"  # session: [staff id, ticket, token]


@dataclass(frozen=True)
class ShownQr:
    image_url: str
    expires_at: datetime


@routes.post("/staff/{id:\\d+}/wechat-qr", name="staff.wechat_qr")
@requires(Permission.MANAGE_STAFF)
async def issue_qr(request: web.Request) -> web.Response:
    member = await scoped_staff(request)
    scene = await staff_binding.issue_scene(member, request.config_dict[CLOCK].now())
    lifetime = int(staff_binding.TOKEN_LIFETIME.total_seconds())
    try:
        answer = await request.config_dict[WECHAT].create_qrcode(scene, expire_seconds=lifetime)
    except WeChatError as exc:
        log.warning("staff binding qr failed", extra={"staff_id": member.id, "error": str(exc)})
        await flash(request, "微信接口暂时不可用，未能生成二维码，请稍后再试。", "error")
    else:
        (await get_session(request))[SHOWN_QR] = [member.id, answer["ticket"], member.bind_token]
    raise web.HTTPSeeOther(_detail(request, member))


@routes.post("/staff/{id:\\d+}/wechat-unbind", name="staff.wechat_unbind")
@requires(Permission.MANAGE_STAFF)
async def unbind(request: web.Request) -> web.Response:
    member = await scoped_staff(request)
    await staff_binding.unbind(member)
    log.info("staff wechat unbound", extra={"staff_id": member.id})
    await flash(request, f"已解除 {member.name} 的微信绑定")
    raise web.HTTPSeeOther(_detail(request, member))


async def shown_qr(request: web.Request, member: Staff) -> ShownQr | None:
    """The QR code this admin asked for `member`, while it can still be scanned."""
    kept = (await get_session(request)).get(SHOWN_QR)
    if not kept or kept[0] != member.id or kept[2] != member.bind_token or member.openid:
        return None
    expires = staff_binding.expires_at(kept[2])
    if expires is None or expires <= request.config_dict[CLOCK].now():
        return None
    return ShownQr(request.config_dict[WECHAT].qrcode_image_url(kept[1]), expires)


def _detail(request: web.Request, member: Staff) -> str:
    return str(request.app.router["staff.detail"].url_for(id=str(member.id))) + "#wechat"
