"""Logging in (phone or username + password, throttled) and out."""

from __future__ import annotations

from aiohttp import web

from admin.auth import LoginOutcome, LoginThrottle, attempt_login
from admin.web.rendering import render
from admin.web.sessions import log_in, log_out
from bot.app import CLOCK

THROTTLE = web.AppKey("admin_login_throttle", LoginThrottle)  # type: ignore[type-abstract]
MESSAGES = {
    LoginOutcome.BAD_CREDENTIALS: "账号或密码不正确。",
    LoginOutcome.THROTTLED: "登录失败次数过多，请 15 分钟后再试。",
}

routes = web.RouteTableDef()


@routes.get("/login", name="login")
async def login_page(request: web.Request) -> web.Response:
    context = {"login": "", "error": None, "next": _next(request), "bye": "bye" in request.query}
    return await render(request, "login.html", context)


@routes.post("/login", name="login.submit")
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    login, password = str(form.get("login", "")).strip(), str(form.get("password", ""))
    clock = request.config_dict[CLOCK]
    result = await attempt_login(
        login,
        password,
        client=request.remote or "unknown",
        throttle=request.config_dict[THROTTLE],
        now=clock.now(),
    )
    if result.staff is None:
        status = 429 if result.outcome is LoginOutcome.THROTTLED else 401
        context = {
            "login": login,
            "error": MESSAGES[result.outcome],
            "next": _next(request, form.get("next")),
        }
        return await render(request, "login.html", context, status=status)
    await log_in(request, result.staff, clock.now())
    raise web.HTTPSeeOther(_next(request, form.get("next")))


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.Response:
    await log_out(request)
    raise web.HTTPSeeOther(request.app.router["login"].url_for().with_query(bye="1"))


def _next(request: web.Request, given: object = None) -> str:
    """Where to go after logging in: a page of this admin app, never another site."""
    target = str(given if given is not None else request.query.get("next", ""))
    home = str(request.app.router["dashboard"].url_for())
    prefix = home.rstrip("/") + "/"
    if target.startswith(prefix) and "\\" not in target:
        return target
    return home
