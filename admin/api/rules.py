"""Who may call which endpoint, and which rows each caller sees, for the API.

Staff callers follow admin.access, the rules the admin pages use (one place decides which roles
may do what). The DMS (API key) acts for the dealer group: every endpoint, every row.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from tortoise.expressions import Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from admin.access import (
    GRANTS,
    Permission,
    allows,
    visible_appointments,
    visible_customers,
    visible_staff,
    visible_stores,
    visible_work_orders,
)
from admin.api.errors import NotFound
from admin.api.principal import Principal
from admin.api.registry import Access
from bot.models import Appointment, Customer, InsurancePolicy, Role, Staff, Store, Vehicle, WorkOrder

M = TypeVar("M", bound=Model)


def _label(roles: Collection[Role]) -> str:
    return "the DMS (API key); staff roles " + ", ".join(role.value for role in Role if role in roles)


def permitted(permission: Permission) -> Access:
    return Access(
        _label(GRANTS[permission]),
        lambda p: p.staff is None or allows(p.staff, permission),
    )


def for_roles(roles: Collection[Role]) -> Access:
    return Access(
        _label(roles), lambda p: p.staff is None or (p.staff.active and Role(p.staff.role) in roles)
    )


ANYONE = for_roles(frozenset(Role))
STAFF_TOKEN = Access("staff tokens", lambda p: p.staff is not None)
VIEW_CUSTOMERS = permitted(Permission.VIEW_CUSTOMERS)
VIEW_STAFF = permitted(Permission.VIEW_STAFF)
MANAGE_STAFF = permitted(Permission.MANAGE_STAFF)
MANAGE_STORES = permitted(Permission.MANAGE_STORES)
WRITE_RECORDS = permitted(Permission.EDIT_DMS_RECORDS)  # customers, vehicles, policies
EXPORT_LISTS = permitted(Permission.EXPORT_LISTS)


def customers(p: Principal) -> QuerySet[Customer]:
    return Customer.all() if p.staff is None else visible_customers(p.staff)


def vehicles(p: Principal) -> QuerySet[Vehicle]:
    if p.staff is None:
        return Vehicle.all()
    return Vehicle.filter(customer_id__in=Subquery(visible_customers(p.staff).values("id")))


def policies(p: Principal) -> QuerySet[InsurancePolicy]:
    if p.staff is None:
        return InsurancePolicy.all()
    return InsurancePolicy.filter(vehicle__customer_id__in=Subquery(visible_customers(p.staff).values("id")))


def staff(p: Principal) -> QuerySet[Staff]:
    return Staff.all() if p.staff is None else visible_staff(p.staff)


def stores(p: Principal) -> QuerySet[Store]:
    return Store.all() if p.staff is None else visible_stores(p.staff)


def work_orders(p: Principal) -> QuerySet[WorkOrder]:
    return WorkOrder.all() if p.staff is None else visible_work_orders(p.staff)


def appointments(p: Principal) -> QuerySet[Appointment]:
    return Appointment.all() if p.staff is None else visible_appointments(p.staff)


async def one(visible: QuerySet[M], record_id: int, missing: str) -> M:
    """The record with this id among those the caller sees; one they may not see is 404 with
    `missing`, like one that does not exist, so that ids reveal nothing."""
    record = await visible.get_or_none(id=record_id)
    if record is None:
        raise NotFound(missing)
    return record
