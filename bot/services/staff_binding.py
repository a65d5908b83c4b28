"""Binding a staff member's WeChat by QR code, so notifications for them reach their phone.

An admin opens the staff member's page; it asks WeChat for a temporary QR code whose scene is
`staff-bind:<token>`. The token is single-use and carries its own expiry
(`<random>.<expiry epoch seconds>`), so one column on Staff holds everything. When the staff
member scans it (a subscribe or scan event with that scene), their openid is written to the
staff record with one conditional update: a second scan, a retry or a second instance finds the
token gone and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.exceptions import IntegrityError

from bot.models import Staff

log = logging.getLogger(__name__)

SCENE_PREFIX = "staff-bind:"
TOKEN_LIFETIME = timedelta(minutes=10)


class BindOutcome(StrEnum):
    BOUND = "bound"
    EXPIRED = "expired"  # unknown, used or out of date: the admin shows a fresh code
    TAKEN = "taken"  # this WeChat is already bound to another staff member


@dataclass(frozen=True)
class StaffBindResult:
    outcome: BindOutcome
    staff: Staff | None = None


def is_bind_scene(scene: str) -> bool:
    return scene.startswith(SCENE_PREFIX)


async def issue_scene(staff: Staff, now: datetime) -> str:
    """A fresh QR scene for `staff` (any earlier one stops working)."""
    expires = int((now + TOKEN_LIFETIME).timestamp())
    token = f"{secrets.token_urlsafe(16)}.{expires}"
    await Staff.filter(id=staff.id).update(bind_token=token)
    staff.bind_token = token
    return SCENE_PREFIX + token


async def bind_by_scene(scene: str, openid: str, now: datetime) -> StaffBindResult:
    """Bind `openid` to the staff member whose QR scene this is, once."""
    token = scene.removeprefix(SCENE_PREFIX)
    if not _is_current(token, now):
        return StaffBindResult(BindOutcome.EXPIRED)
    holder = await Staff.get_or_none(openid=openid)
    staff = await Staff.get_or_none(bind_token=token, active=True)
    if staff is None:
        return StaffBindResult(BindOutcome.EXPIRED)
    if holder is not None and holder.id != staff.id:
        log.info("staff bind refused: openid taken", extra={"staff_id": staff.id, "holder_id": holder.id})
        return StaffBindResult(BindOutcome.TAKEN, holder)
    try:
        claimed = await Staff.filter(id=staff.id, bind_token=token).update(openid=openid, bind_token=None)
    except IntegrityError:  # another staff record took this openid meanwhile
        return StaffBindResult(BindOutcome.TAKEN)
    if not claimed:
        return StaffBindResult(BindOutcome.EXPIRED)
    await staff.refresh_from_db()
    log.info("staff wechat bound", extra={"staff_id": staff.id})
    return StaffBindResult(BindOutcome.BOUND, staff)


async def unbind(staff: Staff) -> None:
    """Forget a staff member's WeChat (a lost phone, someone leaving)."""
    await Staff.filter(id=staff.id).update(openid=None, bind_token=None)
    staff.openid = staff.bind_token = None


def expires_at(token: str) -> datetime | None:
    """When a token stops working, read from the token itself."""
    _, _, expiry = token.rpartition(".")
    return datetime.fromtimestamp(int(expiry), tz=UTC) if expiry.isdigit() else None


def _is_current(token: str, now: datetime) -> bool:
    expiry = expires_at(token)
    return expiry is not None and now < expiry
