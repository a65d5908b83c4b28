"""Who handles a complaint: the customer's own advisor when on duty, else the least-loaded one.

Among the store's on-duty advisors the one with the fewest open complaints wins; ties go to the
one assigned least recently (round robin). With no advisor on duty the store's 客服经理 takes
it, so a complaint always has someone, unless the store has nobody at all (then the trail says
so and escalation still reaches management). Managers can reassign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count, Max
from tortoise.transactions import in_transaction

from bot.models import Complaint, Role, Staff
from bot.models.complaint import OPEN_STATUSES, EventKind
from bot.services.complaints import trail
from bot.services.complaints.errors import (
    ComplaintNotFound,
    ConcurrentChange,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from bot.services.complaints.notices import Notices, StaffNotice, notify_staff
from bot.services.complaints.permissions import MANAGERS, can_manage_store, visible_complaints
from bot.services.complaints.trail import SYSTEM, Actor

log = logging.getLogger(__name__)

ASSIGNABLE_ROLES = frozenset({Role.ADVISOR, *MANAGERS})
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class Choice:
    staff: Staff | None
    reason: str  # own_advisor / least_loaded / service_manager / nobody_available


async def choose_assignee(store_id: int | None, own_advisor_id: int | None) -> Choice:
    if own_advisor_id is not None:
        own = await Staff.get_or_none(id=own_advisor_id, active=True, on_duty=True)
        if own is not None:
            return Choice(own, "own_advisor")
    if store_id is None:
        return Choice(None, "nobody_available")
    on_duty = await Staff.filter(store_id=store_id, role=Role.ADVISOR, active=True, on_duty=True)
    if on_duty:
        return Choice(await _least_loaded(on_duty), "least_loaded")
    manager = (
        await Staff.filter(store_id=store_id, role=Role.SERVICE_MANAGER, active=True)
        .order_by("-on_duty", "id")
        .first()
    )
    if manager is not None:
        return Choice(manager, "service_manager")
    return Choice(None, "nobody_available")


async def _least_loaded(candidates: list[Staff]) -> Staff:
    """Fewest open complaints; then least recently assigned (never assigned first); then id."""
    ids = [staff.id for staff in candidates]
    loads = dict(
        await Complaint.filter(assignee_id__in=ids, status__in=OPEN_STATUSES)
        .annotate(n=Count("id"))
        .group_by("assignee_id")
        .values_list("assignee_id", "n")
    )
    latest = dict(
        await Complaint.filter(assignee_id__in=ids, assigned_at__isnull=False)
        .annotate(last=Max("assigned_at"))
        .group_by("assignee_id")
        .values_list("assignee_id", "last")
    )

    def rank(staff: Staff) -> tuple[int, bool, datetime | None, int]:
        last = latest.get(staff.id)
        return (loads.get(staff.id, 0), last is not None, last, staff.id)

    return min(candidates, key=rank)


async def assign_new(
    complaint: Complaint, own_advisor_id: int | None, notices: Notices, now: datetime
) -> None:
    """Assign a just-filed complaint and notify the assignee (inside the filing transaction)."""
    choice = await choose_assignee(complaint.store_id, own_advisor_id)
    if choice.staff is None:
        log.warning("complaint has nobody to assign", extra={"complaint": complaint.number})
        await trail.record(complaint, EventKind.ASSIGNED, SYSTEM, now, to=None, reason=choice.reason)
        return
    complaint.assignee, complaint.assigned_at = choice.staff, now
    await complaint.save(update_fields=["assignee_id", "assigned_at"])
    event = await trail.record(
        complaint,
        EventKind.ASSIGNED,
        SYSTEM,
        now,
        to=choice.staff.id,
        to_name=choice.staff.name,
        reason=choice.reason,
    )
    await notify_staff(
        notices, complaint, choice.staff, StaffNotice.ASSIGNED, step=f"assigned:{event.id}", now=now
    )


async def reassign(
    complaint_id: int, to_staff_id: int, actor: Staff, notices: Notices, now: datetime, *, reason: str = ""
) -> Complaint:
    """A manager hands the complaint to someone else in the store; the new assignee is notified."""
    complaint = await visible_complaints(actor).get_or_none(id=complaint_id)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if not can_manage_store(actor, complaint.store_id):
        raise NotAllowed(f"staff {actor.id} may not reassign complaint {complaint.number}")
    if not complaint.status.is_open:
        raise InvalidState(
            f"complaint {complaint.number} is {complaint.status.value}; only open ones are reassigned"
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput("reason", f"at most {MAX_REASON_LENGTH} characters")
    target = await Staff.get_or_none(
        id=to_staff_id, active=True, role__in=list(ASSIGNABLE_ROLES), store_id=complaint.store_id
    )
    if target is None:
        raise InvalidInput("to_staff_id", "must be an active advisor or manager of the complaint's store")
    previous = complaint.assignee_id
    if previous == target.id:
        raise InvalidInput("to_staff_id", f"the complaint is already assigned to {target.name}")
    async with in_transaction():
        changed = await Complaint.filter(
            id=complaint.id, assignee_id=previous, status__in=OPEN_STATUSES
        ).update(assignee_id=target.id, assigned_at=now)
        if changed != 1:
            raise ConcurrentChange(f"complaint {complaint.number} changed meanwhile; reload it")
        complaint = await Complaint.get(id=complaint.id)
        event = await trail.record(
            complaint,
            EventKind.REASSIGNED,
            Actor.of(actor),
            now,
            previous=previous,
            to=target.id,
            to_name=target.name,
            reason=reason.strip(),
        )
        await notify_staff(
            notices,
            complaint,
            target,
            StaffNotice.ASSIGNED,
            step=f"assigned:{event.id}",
            now=now,
            actor=Actor.of(actor),
        )
    return complaint
