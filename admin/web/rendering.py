"""Rendering admin pages: the jinja2 environment, the context every page gets, error pages."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from admin.access import ROLE_LABELS, Permission, allows
from admin.auth import CURRENT_STAFF
from admin.web.nav import nav_for
from admin.web.sessions import csrf_token, pop_flashes
from bot.models import Role

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ERROR_MESSAGES = {
    400: "请求无效，请检查后重试。",
    403: "您没有权限访问此页面。",
    404: "页面不存在，或您无权查看该记录。",
    405: "不支持该请求方式。",
    413: "提交的内容过大。",
    500: "系统出错了，请稍后再试；问题已记录。",
}


def setup_templates(admin: web.Application, tz: ZoneInfo) -> None:
    env = aiohttp_jinja2.setup(
        admin,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = lambda value, fmt="%Y-%m-%d %H:%M": _local(value, tz, fmt)
    env.globals["role_label"] = role_label


def role_label(role: str) -> str:
    return ROLE_LABELS[Role(role)]


def _local(value: datetime | date | None, tz: ZoneInfo, fmt: str) -> str:
    """Stored UTC, shown in the dealer's time zone; dates as they are; nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime(fmt)
    return value.isoformat()


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """A page with what the layout needs: who is logged in, their navigation, CSRF, flashes."""
    staff = request.get(CURRENT_STAFF)
    route = request.match_info.route.name or ""
    common = {
        "me": staff,
        "nav": nav_for(staff) if staff is not None else [],
        "can": lambda permission: staff is not None and allows(staff, Permission(permission)),
        "section": route.split(".")[0],
        "csrf_token": await csrf_token(request),
        "flashes": await pop_flashes(request),
    }
    return aiohttp_jinja2.render_template(template, request, {**common, **(context or {})}, status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals and failures as readable pages in the layout, not aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # a handler may explain a refusal with text=...; aiohttp's default text is "<status>: <reason>"
        custom = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None
        message = custom or ERROR_MESSAGES.get(exc.status, ERROR_MESSAGES[400])
        return await render(
            request, "error.html", {"status": exc.status, "message": message}, status=exc.status
        )
    except Exception:
        log.exception("admin page failed", extra={"path": request.path})
        return await render(
            request, "error.html", {"status": 500, "message": ERROR_MESSAGES[500]}, status=500
        )
