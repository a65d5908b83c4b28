"""The admin web app: server-rendered pages for advisors, dispatchers, managers and admins.

Mounted under /admin as its own aiohttp application, so its middlewares (sessions, error
pages, CSRF, login) and security headers apply to admin pages only. Middleware order, outside
in: the client's address is read (behind a trusted proxy, from X-Forwarded-For); the session
is loaded and saved around everything; refusals become pages in the layout;
state-changing requests without the session's CSRF token are refused; every page but the
login page needs a logged-in staff member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from aiohttp_session import session_middleware

from admin.auth import login_throttle, real_client
from admin.web import (
    bookings,
    capacity,
    complaints,
    customers,
    dashboard,
    exports,
    imports,
    login,
    staff,
    staff_wechat,
    stores,
    workorders,
)
from admin.web.rendering import error_pages, setup_templates
from admin.web.security import (
    CONTENT_SECURITY_POLICY,
    content_security_policy,
    csrf_protect,
    security_headers,
)
from admin.web.sessions import SESSIONS, authentication, make_storage, sessions
from bot.app import REDIS, SETTINGS, WECHAT

PREFIX = "/admin"
STATIC = Path(__file__).resolve().parent.parent / "static"
PUBLIC_ROUTES = frozenset({"login", "login.submit", "static"})


def setup(app: web.Application) -> None:
    """Mount the admin pages on `app` under /admin."""
    admin = web.Application(
        middlewares=[
            real_client,
            sessions,
            error_pages,
            csrf_protect,
            authentication(PUBLIC_ROUTES, login_route="login"),
        ]
    )
    for module in (
        login,
        dashboard,
        customers,
        complaints,
        bookings,
        workorders,
        capacity,
        staff,
        staff_wechat,
        stores,
        imports,
        exports,
    ):
        admin.router.add_routes(module.routes)
    admin.router.add_static("/static", STATIC, name="static")
    setup_templates(admin, app[SETTINGS].tz)
    admin.on_response_prepare.append(security_headers)
    admin.cleanup_ctx.append(_started_with(app))
    app.add_subapp(PREFIX, admin)
    app.router.add_get(PREFIX, _to_dashboard)


def _started_with(root: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    """What the admin app needs from the running bot: Redis (sessions, throttle), WeChat (QR)."""

    async def started(admin: web.Application) -> AsyncIterator[None]:
        redis = root.get(REDIS)
        storage = make_storage(root[SETTINGS], redis, path=PREFIX)
        admin[SESSIONS] = session_middleware(storage)
        admin[login.THROTTLE] = login_throttle(redis)
        admin[imports.REPORTS] = imports.report_store(redis)
        admin[CONTENT_SECURITY_POLICY] = content_security_policy(root[WECHAT].qrcode_image_url("qr"))
        yield

    return started


async def _to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX + "/")
