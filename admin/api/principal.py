"""Who is calling the API: the DMS with an API key, or a staff member with a staff token.

API keys come from BOT_API_KEYS and act for the dealer group as a whole. Staff tokens are
opaque random strings issued at login; only their SHA-256 is stored, with an expiry, and the
token's access is the staff member's role and store (admin.access), checked on every call.
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
            if token is not None and staff is not None:
                return Principal(staff, token.id)
    raise Unauthorized("Send a valid API key (X-API-Key) or a staff token (Authorization: Bearer).")


async def issue_token(staff: Staff, now: datetime) -> tuple[str, datetime]:
    """A new staff token and its expiry; the staff member's expired tokens are swept away."""
    await ApiToken.filter(staff_id=staff.id, expires_at__lte=now).delete()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + TOKEN_TTL
    await ApiToken.create(staff=staff, token_hash=_digest(token), created_at=now, expires_at=expires_at)
    return token, expires_at


async def revoke_token(token_id: int) -> None:
    await ApiToken.filter(id=token_id).delete()
