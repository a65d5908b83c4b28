"""Admin sessions: who is logged in, until when, and the per-session CSRF token.

Sessions live in Redis when the app has it (several web instances share them, and logout
deletes them server-side), else in an encrypted cookie keyed by BOT_SESSION_SECRET. Inactivity
is measured with the app's clock (so tests move time instead of sleeping): a session unused for
BOT_ADMIN_IDLE_MINUTES is logged out. The cookie's own max-age is the same period, a backstop in
real time. The storage is chosen at start-up (admin.web.setup), once Redis is connected.

A session also ends when its staff member is deactivated or their password changes (a reset by
an admin, whatever the path): it remembers a fingerprint of the password hash it was opened
with, and of the member's credential version (moved on by a deactivation, so reactivating them
revives no session), and every request compares it with the stored one. Nothing per session is
kept in the database, so this works the same for cookie and Redis sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_session import AbstractStorage, Session, get_session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from aiohttp_session.redis_storage import RedisStorage
from redis.asyncio import Redis

from admin.auth import CURRENT_STAFF
from bot.app import CLOCK, SETTINGS
from bot.models import Staff
from bot.settings import Settings

log = logging.getLogger(__name__)

SEEN_RESOLUTION = timedelta(minutes=1)  # refresh the last-seen time at most this often
COOKIE_NAME = "admin_session"
STAFF_ID, SEEN, CSRF, FLASHES, CREDENTIAL = "staff_id", "seen", "csrf", "flashes", "credential"

SESSIONS = web.AppKey[Middleware]("admin_sessions")


def idle_timeout(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.admin_idle_minutes)


def make_storage(settings: Settings, redis: Redis | None, *, path: str) -> AbstractStorage:
    cookie: dict[str, Any] = {
        "cookie_name": COOKIE_NAME,
        "path": path,
        "httponly": True,
        "samesite": "Lax",
        "max_age": int(idle_timeout(settings).total_seconds()),
    }
    if redis is not None:
        return RedisStorage(redis, **cookie)
    return EncryptedCookieStorage(_cookie_key(settings.session_secret), **cookie)


def _cookie_key(secret: str | None) -> bytes:
    if secret is None:
        log.warning(
            "BOT_SESSION_SECRET is not set: admin sessions use a random key and end when this "
            "process restarts (and are not shared between instances)"
        )
        return secrets.token_bytes(32)
    return hashlib.sha256(secret.encode()).digest()


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp-session's middleware, with the storage chosen at start-up."""
    return await request.config_dict[SESSIONS](request, handler)


async def log_in(request: web.Request, staff: Staff, now: datetime) -> None:
    """A fresh session (new identity, new CSRF token) for `staff`: no session fixation."""
    session = await new_session(request)
    session[STAFF_ID] = staff.id
    session[SEEN] = now.timestamp()
    session[CSRF] = secrets.token_urlsafe(32)
    session[CREDENTIAL] = _credential(staff)


def _credential(staff: Staff) -> str:
    """Changes whenever the password does (every hash has its own salt) or the member is
    deactivated; reveals nothing of the password."""
    fingerprint = f"{staff.credential_version}:{staff.password_hash}"
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:32]


async def log_out(request: web.Request) -> None:
    (await get_session(request)).invalidate()


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token, created on first use (the login form needs one too)."""
    session = await get_session(request)
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return str(session[CSRF])


async def flash(request: web.Request, message: str, level: str = "success") -> None:
    """A message shown once, on the next page rendered for this session."""
    session = await get_session(request)
    session[FLASHES] = [*session.get(FLASHES, []), [level, message]]


async def pop_flashes(request: web.Request) -> list[tuple[str, str]]:
    session = await get_session(request)
    flashes = session.pop(FLASHES, [])
    return [(level, message) for level, message in flashes]


async def logged_in_staff(request: web.Request) -> Staff | None:
    """The active staff member of this session, or None (and the session logged out) when idle."""
    session = await get_session(request)
    staff_id = session.get(STAFF_ID)
    if staff_id is None:
        return None
    now = request.config_dict[CLOCK].now()
    idle = now - datetime.fromtimestamp(float(session.get(SEEN, 0)), tz=now.tzinfo)
    if idle > idle_timeout(request.config_dict[SETTINGS]):
        log.info("admin session expired", extra={"staff_id": staff_id})
        _forget_staff(session)
        await flash(request, "由于长时间未操作，您已自动退出，请重新登录。", "warning")
        return None
    staff = await Staff.get_or_none(id=staff_id, active=True).prefetch_related("store")
    if staff is None or not hmac.compare_digest(str(session.get(CREDENTIAL, "")), _credential(staff)):
        log.info("admin session ended: account deactivated or password changed", extra={"staff_id": staff_id})
        _forget_staff(session)
        await flash(request, "您的账号密码已更改或账号已停用，请重新登录。", "warning")
        return None
    if idle >= SEEN_RESOLUTION:
        session[SEEN] = now.timestamp()
    return staff


def _forget_staff(session: Session) -> None:
    for key in (STAFF_ID, SEEN, CREDENTIAL):
        session.pop(key, None)


def authentication(public_routes: frozenset[str], login_route: str) -> Middleware:
    """Every admin page needs a logged-in staff member, except `public_routes`."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name in public_routes:
            return await handler(request)
        staff = await logged_in_staff(request)
        if staff is None:
            login = request.app.router[login_route].url_for()
            if request.method == "GET":
                login = login.with_query(next=str(request.rel_url))
            raise web.HTTPSeeOther(login)
        request[CURRENT_STAFF] = staff
        return await handler(request)

    return authenticate
