"""Who may do what, and which records they may see: the one place the admin pages and the API ask.

Two kinds of rule live here. Permissions say which roles may use a feature at all (a page or an
endpoint not for the role answers 403). Scopes say which rows a staff member may see: advisors
their own customers, other store staff their store's, GM and admin everything. A record outside
the scope is treated as missing (404), so ids of other stores' records reveal nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from bot.models import Appointment, Customer, ExtraItem, Role, Staff, Store, WorkOrder
from bot.models.audit import CustomerViewLog

MANAGERS = frozenset({Role.SERVICE_MANAGER, Role.AFTERSALES_MANAGER})
EVERYONE = frozenset(Role)


class Permission(StrEnum):
    VIEW_CUSTOMERS = "view_customers"
    ASSIGN_ADVISOR = "assign_advisor"
    VIEW_STAFF = "view_staff"
    MANAGE_STAFF = "manage_staff"  # create, edit, reset passwords, WeChat binding
    TOGGLE_DUTY = "toggle_duty"
    MANAGE_STORES = "manage_stores"
    EDIT_DMS_RECORDS = "edit_dms_records"  # customers, vehicles, policies by hand or by the API
    IMPORT_DMS_FILES = "import_dms_files"  # the import page; a store's staff only their store's rows
    EXPORT_LISTS = "export_lists"
    VIEW_WORKSHOP = "view_workshop"  # appointments and work orders, scoped by visible_work_orders & co.
    HANDLE_WORKSHOP = "handle_workshop"  # arrivals, no-shows, stages, ETA, 增项
    SETTLE_WORK_ORDERS = "settle_work_orders"  # record the invoice that closes a bill
    MANAGE_CAPACITY = "manage_capacity"  # booking windows, places, closed days of stores in scope
    VIEW_COMPLAINTS = "view_complaints"  # scoped by bot.services.complaints.permissions
    SUPERVISE_COMPLAINTS = "supervise_complaints"  # escalation board, reassignment, figures


GRANTS: Mapping[Permission, frozenset[Role]] = {
    Permission.VIEW_CUSTOMERS: EVERYONE,
    Permission.ASSIGN_ADVISOR: MANAGERS | {Role.GM, Role.ADMIN},
    Permission.VIEW_STAFF: MANAGERS | {Role.GM, Role.ADMIN},
    Permission.MANAGE_STAFF: frozenset({Role.ADMIN}),
    Permission.TOGGLE_DUTY: MANAGERS | {Role.ADMIN},
    Permission.MANAGE_STORES: frozenset({Role.ADMIN}),
    Permission.EDIT_DMS_RECORDS: frozenset({Role.ADMIN}),
    Permission.IMPORT_DMS_FILES: MANAGERS | {Role.GM, Role.ADMIN},
    Permission.EXPORT_LISTS: MANAGERS | {Role.GM, Role.ADMIN},
    Permission.VIEW_WORKSHOP: MANAGERS | {Role.ADVISOR, Role.GM, Role.ADMIN},
    Permission.HANDLE_WORKSHOP: MANAGERS | {Role.ADVISOR, Role.ADMIN},
    Permission.SETTLE_WORK_ORDERS: frozenset({Role.ADMIN}),
    Permission.MANAGE_CAPACITY: MANAGERS | {Role.GM, Role.ADMIN},
    Permission.VIEW_COMPLAINTS: MANAGERS | {Role.ADVISOR, Role.GM, Role.ADMIN},
    Permission.SUPERVISE_COMPLAINTS: MANAGERS | {Role.GM, Role.ADMIN},
}

ROLE_LABELS: Mapping[Role, str] = {
    Role.ADVISOR: "服务顾问",
    Role.RESCUE_DISPATCHER: "救援调度",
    Role.INSURANCE_SPECIALIST: "续保专员",
    Role.SERVICE_MANAGER: "客服经理",
    Role.AFTERSALES_MANAGER: "售后经理",
    Role.GM: "总经理",
    Role.ADMIN: "系统管理员",
}


def allows(staff: Staff, permission: Permission) -> bool:
    """Whether `staff` may use `permission` at all (scopes still narrow what they see)."""
    return staff.active and Role(staff.role) in GRANTS[permission]


def is_group_wide(staff: Staff) -> bool:
    return Role(staff.role).is_group_wide


def _store_id(staff: Staff) -> int | None:
    return staff.store_id  # type: ignore[attr-defined,no-any-return]


def visible_customers(staff: Staff) -> QuerySet[Customer]:
    """Customers `staff` may see: an advisor's own, a store's for store staff, all for GM/admin."""
    if not staff.active:
        return Customer.filter(id__in=[])
    if is_group_wide(staff):
        return Customer.all()
    if Role(staff.role) is Role.ADVISOR:
        return Customer.filter(advisor_id=staff.id)
    return Customer.filter(store_id=_store_id(staff), store_id__isnull=False)


async def open_customer(staff: Staff, customer_id: int, now: datetime) -> Customer | None:
    """A customer's record for `staff` to read, if in their scope; the view is written to the
    audit log (every staff view of a customer record is auditable)."""
    customer = await visible_customers(staff).get_or_none(id=customer_id)
    if customer is not None:
        await CustomerViewLog.create(staff=staff, customer=customer, at=now)
    return customer


def visible_staff(staff: Staff) -> QuerySet[Staff]:
    """Staff records `staff` may list: their store's for managers, everyone's for GM/admin."""
    if not allows(staff, Permission.VIEW_STAFF):
        return Staff.filter(id__in=[])
    if is_group_wide(staff):
        return Staff.all()
    return Staff.filter(store_id=_store_id(staff), store_id__isnull=False)


def visible_stores(staff: Staff) -> QuerySet[Store]:
    if is_group_wide(staff):
        return Store.all()
    return Store.filter(id=_store_id(staff))


def can_toggle_duty(actor: Staff, target: Staff) -> bool:
    """Admins switch anyone's on-duty flag; managers only their own store's staff."""
    if not allows(actor, Permission.TOGGLE_DUTY):
        return False
    return is_group_wide(actor) or (_store_id(actor) is not None and _store_id(actor) == _store_id(target))


def assignable_advisors(actor: Staff, customer: Customer) -> QuerySet[Staff]:
    """Active advisors `actor` may make `customer`'s advisor: those of the customer's store
    (for a customer without a store: any advisor for GM/admin, the manager's store's otherwise)."""
    if not allows(actor, Permission.ASSIGN_ADVISOR):
        return Staff.filter(id__in=[])
    advisors = Staff.filter(role=Role.ADVISOR, active=True)
    store_id = customer.store_id  # type: ignore[attr-defined]
    if store_id is not None:
        return advisors.filter(store_id=store_id)
    return advisors if is_group_wide(actor) else advisors.filter(store_id=_store_id(actor))


def visible_appointments(staff: Staff) -> QuerySet[Appointment]:
    """Bookings `staff` may see: an advisor's (their customers', or booked with them), a store's
    for its other staff, all for GM/admin."""
    if not allows(staff, Permission.VIEW_WORKSHOP):
        return Appointment.filter(id__in=[])
    if is_group_wide(staff):
        return Appointment.all()
    if Role(staff.role) is Role.ADVISOR:
        return Appointment.filter(Q(advisor_id=staff.id) | Q(customer__advisor_id=staff.id))
    return Appointment.filter(store_id=_store_id(staff))


def visible_work_orders(staff: Staff) -> QuerySet[WorkOrder]:
    """Work orders `staff` may see: an advisor's (their customers', or handled by them), a
    store's for its other staff, all for GM/admin."""
    if not allows(staff, Permission.VIEW_WORKSHOP):
        return WorkOrder.filter(id__in=[])
    if is_group_wide(staff):
        return WorkOrder.all()
    if Role(staff.role) is Role.ADVISOR:
        return WorkOrder.filter(Q(advisor_id=staff.id) | Q(customer__advisor_id=staff.id))
    return WorkOrder.filter(store_id=_store_id(staff), store_id__isnull=False)


def visible_extra_items(staff: Staff) -> QuerySet[ExtraItem]:
    """增项 of the work orders `staff` may see."""
    return ExtraItem.filter(work_order_id__in=Subquery(visible_work_orders(staff).values("id")))


def capacity_stores(staff: Staff) -> QuerySet[Store]:
    """Stores whose booking capacity `staff` may edit: their own for managers, all for GM/admin."""
    if not allows(staff, Permission.MANAGE_CAPACITY):
        return Store.filter(id__in=[])
    return visible_stores(staff)
