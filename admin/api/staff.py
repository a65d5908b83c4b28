"""Staff: listed by managers (their store's) and group-wide roles, created and changed by admins."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field, StringConstraints, computed_field

from admin.api import rules
from admin.api.errors import Conflict, Invalid
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    ById,
    Id,
    Mobile,
    Page,
    Paging,
    QueryId,
    RequestModel,
    RequiredName,
    ResponseModel,
    changes,
    paginate,
)
from admin.api.upserts import save_or_conflict
from bot.models import Role, Staff, Store
from bot.services.passwords import hash_password
from bot.services.staff_accounts import end_access_if_deactivated

routes = Routes("staff")

Username = Annotated[str, StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]


class StaffIn(RequestModel):
    name: RequiredName
    phone: Mobile
    role: Role
    store_id: Id | None = Field(None, description="Required for every role but gm and admin.")
    username: Username | None = None
    password: Password | None = Field(None, description="Without one the staff member cannot log in.")
    on_duty: bool = True
    active: bool = True


class StaffChange(RequestModel):
    """Fields left out are unchanged; null clears store_id and username and leaves the others."""

    name: RequiredName | None = None
    phone: Mobile | None = None
    role: Role | None = None
    store_id: Id | None = None
    username: Username | None = None
    password: Password | None = None
    on_duty: bool | None = None
    active: bool | None = None


class StaffOut(ResponseModel):
    id: int
    name: str
    phone: str
    username: str | None
    role: Role
    store_id: int | None
    on_duty: bool
    active: bool
    openid: str | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wechat_bound(self) -> bool:
        """Whether notifications reach this staff member in WeChat."""
        return self.openid is not None


class StaffFilter(Paging):
    store_id: QueryId | None = None
    role: Role | None = None
    active: bool | None = None


@routes.route("GET", "/staff", access=rules.VIEW_STAFF, query=StaffFilter, response=Page[StaffOut])
async def list_staff(call: Call, query: StaffFilter) -> dict[str, Any]:
    """List staff members."""
    return await paginate(rules.staff(call.principal).filter(**query.lookups()).order_by("id"), query)


@routes.route("GET", "/staff/{id}", access=rules.VIEW_STAFF, path_params=ById, response=StaffOut)
async def get_staff(call: Call, path: ById) -> Staff:
    """Read a staff member."""
    return await rules.one(rules.staff(call.principal), path.id, "No such staff member.")


@routes.route(
    "POST",
    "/staff",
    access=rules.MANAGE_STAFF,
    body=StaffIn,
    response=StaffOut,
    statuses=(201,),
    errors=(409,),
)
async def create_staff(call: Call, body: StaffIn) -> Reply:
    """Create a staff member; 409 if the phone or username is taken."""
    values = body.model_dump(exclude={"password"})
    await _check(values)
    staff = Staff(**values)
    await _save(staff, body.password)
    return Reply(staff, 201)


@routes.route(
    "PATCH",
    "/staff/{id}",
    access=rules.MANAGE_STAFF,
    path_params=ById,
    body=StaffChange,
    response=StaffOut,
    errors=(409,),
)
async def change_staff(call: Call, path: ById, body: StaffChange) -> Staff:
    """Change a staff member: role, store, duty, deactivation, a new password."""
    staff = await rules.one(rules.staff(call.principal), path.id, "No such staff member.")
    changed = changes(body, clearable={"store_id", "username"}, exclude={"password"})
    await _check({"role": staff.role, "store_id": staff.store_id, **changed}, staff.id)  # type: ignore[attr-defined]
    staff.update_from_dict(changed)
    await _save(staff, body.password)
    await end_access_if_deactivated(staff.id, staff.active)
    return staff


async def _check(values: dict[str, Any], staff_id: int | None = None) -> None:
    """The rules a database constraint cannot say, and taken phones/usernames named clearly."""
    store_id = values.get("store_id")
    if store_id is None and not Role(values["role"]).is_group_wide:
        raise Invalid("This role belongs to a store.", {"store_id": "required for this role"})
    if store_id is not None and not await Store.exists(id=store_id):
        raise Invalid("No such store.", {"store_id": "no such store"})
    others = Staff.exclude(id=staff_id) if staff_id is not None else Staff.all()
    for name in ("phone", "username"):
        if values.get(name) and await others.filter(**{name: values[name]}).exists():
            raise Conflict(f"Another staff member has this {name}.", {name: "already taken"})


async def _save(staff: Staff, password: str | None) -> None:
    """Save, with a new password's hash if one was sent; 409 if a concurrent request took the
    phone or username since _check."""
    if password is not None:
        staff.password_hash = await asyncio.to_thread(hash_password, password)
    await save_or_conflict(staff, "Another staff member has this phone or username.")
