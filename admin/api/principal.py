"""Who is calling the API: the DMS with an API key, or a staff member with a staff token.

API keys come from BOT_API_KEYS and act for the dealer group as a whole. Staff tokens are
opaque random strings issued at login; only their SHA-256 is stored, with an expiry, and the
token's access is the staff member's role and store (admin.access), checked on every call.

A token ends with its staff member's password, as admin sessions do (admin.web.sessions): it
carries a check keyed by the password hash it was issued under, and a reset (by whatever path)
stores a new hash with a new salt, so the check fails from then on. A deactivated staff
member's tokens are refused for as long as the deactivation lasts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from admin.api.errors import Unauthorized
from bot.models import Role, Staff
from bot.models.api_token import ApiToken

TOKEN_TTL = timedelta(hours=12)
TOKEN_PREFIX = "st_"
CHECK_SEPARATOR = "."  # not in token_urlsafe's alphabet


@dataclass(frozen=True)
class Principal:
    staff: Staff | None = None  # None: the DMS, by API key
    token_id: int | None = None

    @property
    def is_dms(self) -> bool:
        return self.staff is None

    @property
    def role(self) -> Role | None:
        return None if self.staff is None else Role(self.staff.role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_api_key(presented: str, keys: Sequence[str]) -> bool:
    """Compared in constant time with every key, so timing reveals neither key nor position."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return matched


async def authenticate(headers: Mapping[str, str], api_keys: Sequence[str], now: datetime) -> Principal:
    """The caller named by `X-API-Key: <key>` or `Authorization: Bearer <key or staff token>`."""
    api_key = headers.get("X-API-Key")
    scheme, _, credential = headers.get("Authorization", "").partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else None
    if api_key is not None:
        if _is_api_key(api_key, api_keys):
            return Principal()
    elif bearer:
        if _is_api_key(bearer, api_keys):
            return Principal()
        if bearer.startswith(TOKEN_PREFIX):
            token = await ApiToken.filter(token_hash=_digest(bearer), expires_at__gt=now).first()
            staff = await Staff.get_or_none(id=token.staff_id, active=True) if token else None  # type: ignore[attr-defined]
            if token is not None and staff is not None and _issued_under_current_password(bearer, staff):
                return Principal(staff, token.id)
    raise Unauthorized("Send a valid API key (X-API-Key) or a staff token (Authorization: Bearer).")


def _password_check(staff: Staff, secret: str) -> str:
    """Changes whenever the password does; reveals nothing of it (an HMAC keyed by its hash)."""
    return hmac.new(staff.password_hash.encode(), secret.encode(), hashlib.sha256).hexdigest()[:32]


def _issued_under_current_password(token: str, staff: Staff) -> bool:
    secret, _, check = token.removeprefix(TOKEN_PREFIX).rpartition(CHECK_SEPARATOR)
    return hmac.compare_digest(check.encode(), _password_check(staff, secret).encode())


async def issue_token(staff: Staff, now: datetime) -> tuple[str, datetime]:
    """A new staff token and its expiry; the staff member's expired tokens are swept away."""
    await ApiToken.filter(staff_id=staff.id, expires_at__lte=now).delete()
    secret = secrets.token_urlsafe(32)
    token = TOKEN_PREFIX + secret + CHECK_SEPARATOR + _password_check(staff, secret)
    expires_at = now + TOKEN_TTL
    await ApiToken.create(staff=staff, token_hash=_digest(token), created_at=now, expires_at=expires_at)
    return token, expires_at


async def revoke_token(token_id: int) -> None:
    await ApiToken.filter(id=token_id).delete()
