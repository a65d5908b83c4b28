"""Who may see and act on which complaints (SPEC §5): the rule every page, endpoint and service asks.

An advisor sees only the complaints assigned to them; the store's 客服经理 and 售后经理 see the
store's; the GM (and an admin) see all. Other roles see none. A complaint outside what someone
may see is reported as missing, so ids reveal nothing.
"""

from __future__ import annotations

from tortoise.queryset import QuerySet

from bot.models import Complaint, Role, Staff

MANAGERS = frozenset({Role.SERVICE_MANAGER, Role.AFTERSALES_MANAGER})


def visible_complaints(staff: Staff) -> QuerySet[Complaint]:
    if not staff.active:
        return Complaint.filter(id__in=[])
    role = Role(staff.role)
    if role.is_group_wide:
        return Complaint.all()
    if role is Role.ADVISOR:
        return Complaint.filter(assignee_id=staff.id)
    store_id = _store_of(staff)
    if role in MANAGERS and store_id is not None:
        return Complaint.filter(store_id=store_id)
    return Complaint.filter(id__in=[])


def can_manage_store(staff: Staff, store_id: int | None) -> bool:
    """Managers of that store, the GM and admins: reassign, change the store's deadlines."""
    if not staff.active:
        return False
    role = Role(staff.role)
    if role.is_group_wide:
        return True
    return role in MANAGERS and store_id is not None and _store_of(staff) == store_id


def can_handle(staff: Staff, complaint: Complaint) -> bool:
    """Respond, note and resolve: the assignee, or a manager who may manage the complaint's store."""
    if not staff.active:
        return False
    return complaint.assignee_id == staff.id or can_manage_store(staff, complaint.store_id)


def _store_of(staff: Staff) -> int | None:
    return staff.store_id  # type: ignore[attr-defined, no-any-return]
