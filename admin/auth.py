"""Staff authentication, shared by the admin pages and the JSON API.

A staff member logs in with their phone or username and password (argon2, verified off the
event loop). Failed attempts are throttled per login and per client address, so guessing is
slow whichever of the two an attacker varies. The throttle keeps its counts in Redis when the
app has it (several web instances share one budget), else in this process.

Behind a reverse proxy every request comes from the proxy's address, so the client is read from
X-Forwarded-For, but only when the direct peer is one of BOT_TRUSTED_PROXIES: anyone else could
write any address there and escape the per-client throttle.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, cast

from aiohttp import hdrs, web
from redis.asyncio import Redis
from tortoise.expressions import Q
from tortoise.fields import CharField

from admin.access import Permission, allows
from bot.app import SETTINGS
from bot.models import Staff
from bot.services.passwords import (
    hash_password,
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)
from bot.settings import Network

log = logging.getLogger(__name__)

CURRENT_STAFF = web.RequestKey("staff", Staff)
LOGIN_COLUMNS = ("phone", "username")
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_LOGIN = 5
# higher per address: a whole store's staff may share one office address (NAT)
MAX_FAILURES_PER_CLIENT = 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def authenticate_password(login: str, password: str) -> Staff | None:
    """The active staff member whose phone or username is `login`, if `password` is theirs."""
    matching = _login_columns(login.strip())
    staff = await Staff.filter(matching, active=True).first() if matching is not None else None
    # verify against a dummy hash for unknown logins too, so timing does not reveal which exist
    if staff is not None and staff.password_hash:
        stored = staff.password_hash
    else:
        stored = await asyncio.to_thread(_dummy_hash)  # hashed on first use: off the loop too
    if not await verify_password_off_loop(stored, password) or staff is None:
        return None
    if needs_rehash(staff.password_hash):
        staff.password_hash = await hash_password_off_loop(password)
        await staff.save(update_fields=["password_hash"])
    return staff


def _login_columns(login: str) -> Q | None:
    """Where `login` may be stored: the phone and username columns that can hold it. A login
    longer than a column or with a control character is no one's; asking the database would be
    an error (a validation error, or PostgreSQL refusing NUL), not a miss."""
    if not login or not login.isprintable():
        return None
    columns = [Q(**{name: login}) for name in LOGIN_COLUMNS if len(login) <= _column_length(name)]
    return Q(*columns, join_type=Q.OR) if columns else None


def _column_length(name: str) -> int:
    return cast(CharField, Staff._meta.fields_map[name]).max_length


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))


class LoginOutcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    staff: Staff | None = None


class LoginThrottle(Protocol):
    """Counts failed logins per key over a sliding window of `FAILURE_WINDOW`."""

    async def failures(self, key: str, now: datetime) -> int: ...

    async def record_failure(self, keys: Sequence[str], now: datetime) -> None: ...

    async def clear(self, key: str) -> None: ...


class MemoryLoginThrottle:
    """For a single process (demo, tests without Redis)."""

    def __init__(self) -> None:
        self._failures: dict[str, list[datetime]] = defaultdict(list)

    async def failures(self, key: str, now: datetime) -> int:
        recent = [at for at in self._failures.get(key, []) if at > now - FAILURE_WINDOW]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return len(recent)

    async def record_failure(self, keys: Sequence[str], now: datetime) -> None:
        for key in keys:
            self._failures[key].append(now)

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class RedisLoginThrottle:
    """A sorted set of failure times per key, shared by every web instance."""

    def __init__(self, redis: Redis, prefix: str = "admin:login-failures:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def failures(self, key: str, now: datetime) -> int:
        name = self._prefix + key
        await self._redis.zremrangebyscore(name, "-inf", (now - FAILURE_WINDOW).timestamp())
        return int(await self._redis.zcard(name))

    async def record_failure(self, keys: Sequence[str], now: datetime) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                name = self._prefix + key
                pipe.zadd(name, {f"{now.timestamp()}:{secrets.token_hex(4)}": now.timestamp()})
                pipe.expire(name, int(FAILURE_WINDOW.total_seconds()))
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


def login_throttle(redis: Redis | None) -> LoginThrottle:
    return MemoryLoginThrottle() if redis is None else RedisLoginThrottle(redis)


async def attempt_login(
    login: str, password: str, *, client: str, throttle: LoginThrottle, now: datetime
) -> LoginResult:
    """Check a login attempt against the throttle first, then the password; count failures."""
    limits = {
        f"login:{login.strip().lower()}": MAX_FAILURES_PER_LOGIN,
        f"client:{client}": MAX_FAILURES_PER_CLIENT,
    }
    keys = tuple(limits)
    for key, limit in limits.items():
        if await throttle.failures(key, now) >= limit:
            log.warning("login throttled", extra={"throttle_key": key.split(":", 1)[0]})
            return LoginResult(LoginOutcome.THROTTLED)
    staff = await authenticate_password(login, password)
    if staff is None:
        await throttle.record_failure(keys, now)
        log.info("login failed", extra={"client": client})
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    await throttle.clear(keys[0])
    log.info("login", extra={"staff_id": staff.id})
    return LoginResult(LoginOutcome.OK, staff)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, or while the peer is a trusted proxy, the address that
    proxy saw, read from the right of X-Forwarded-For (proxies append; a client can only prepend)."""
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    client = peer or "unknown"
    while hops and _is_trusted(client, trusted):
        hop = hops.pop()
        if not _is_address(hop):
            break  # unreadable: keep the last address a trusted proxy vouched for
        client = hop
    return client


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


@web.middleware
async def real_client(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Make `request.remote` the client's address (see client_address) for everything after."""
    trusted = request.config_dict[SETTINGS].trusted_proxies
    if trusted and hdrs.X_FORWARDED_FOR in request.headers:
        forwarded = request.headers.getall(hdrs.X_FORWARDED_FOR)
        client = client_address(request.remote, forwarded, trusted)
        if client != request.remote:
            request = request.clone(remote=client)
    return await handler(request)


def requires(permission: Permission) -> Callable[[Handler], Handler]:
    """Refuse a handler to staff whose role lacks `permission` (401 when nobody is logged in).

    Whoever authenticates the request (the admin session, an API token) puts the staff member in
    `request[CURRENT_STAFF]` first.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            staff = request.get(CURRENT_STAFF)
            if staff is None:
                raise web.HTTPUnauthorized()
            if not allows(staff, permission):
                raise web.HTTPForbidden()
            return await handler(request)

        return checked

    return decorate
