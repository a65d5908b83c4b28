"""Creating staff accounts, shared by `python -m bot staff add`, the demo and the admin app."""

from __future__ import annotations

from tortoise.expressions import F

from bot.db import database
from bot.models import Role, Staff, Store
from bot.models.api_token import ApiToken
from bot.services.passwords import hash_password_off_loop

MIN_PASSWORD_LENGTH = 8


class StaffAccountError(ValueError):
    pass


async def add_staff(
    *, name: str, phone: str, role: str, username: str | None, store_code: str | None, password: str
) -> Staff:
    try:
        parsed_role = Role(role)
    except ValueError:
        raise StaffAccountError(
            f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}"
        ) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffAccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    store = None
    if store_code:
        store = await Store.get_or_none(code=store_code)
        if store is None:
            raise StaffAccountError(f"no store with code {store_code!r}")
    elif not parsed_role.is_group_wide:
        raise StaffAccountError(f"a {parsed_role.value} belongs to a store: give --store")
    if await Staff.filter(phone=phone).exists() or (
        username and await Staff.filter(username=username).exists()
    ):
        raise StaffAccountError("a staff member with this phone or username exists already")
    return await Staff.create(
        name=name,
        phone=phone,
        role=parsed_role,
        username=username,
        store=store,
        password_hash=await hash_password_off_loop(password),
    )


async def create_staff(database_url: str, **fields: str | None) -> Staff:
    async with database(database_url):
        return await add_staff(**fields)  # type: ignore[arg-type]


async def end_access_if_deactivated(staff_id: int, active: bool) -> None:
    """A deactivated member's API tokens are deleted and their admin sessions' credential moves
    on (admin.web.sessions), so reactivating them revives neither."""
    if not active:
        await ApiToken.filter(staff_id=staff_id).delete()
        await Staff.filter(id=staff_id).update(credential_version=F("credential_version") + 1)
