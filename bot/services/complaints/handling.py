"""What the assignee (or a manager) does with a complaint: respond, note, resolve.

A response goes to the customer in chat through the outbox and stops the first-response clock;
a note stays internal; a resolution is sent to the customer with the satisfaction survey and
stops the SLA clock, so the complaint never escalates after it. Each change is a conditional
update on the status, so two staff acting at once cannot both resolve it.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.models import Complaint, ComplaintEvent, Staff
from bot.models.complaint import OPEN_STATUSES, ComplaintCause, ComplaintStatus, EventKind
from bot.services.complaints import trail
from bot.services.complaints.errors import (
    ComplaintNotFound,
    ConcurrentChange,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from bot.services.complaints.intake import clean_text
from bot.services.complaints.notices import Notices, notify_customer
from bot.services.complaints.permissions import can_handle, visible_complaints
from bot.services.complaints.sla import policy_for
from bot.services.complaints.trail import Actor


async def _handleable(complaint_id: int, actor: Staff, action: str) -> Complaint:
    complaint = await visible_complaints(actor).get_or_none(id=complaint_id)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if not can_handle(actor, complaint):
        raise NotAllowed(f"staff {actor.id} may not {action} complaint {complaint.number}")
    if not complaint.status.is_open:
        raise InvalidState(f"complaint {complaint.number} is {complaint.status.value}; cannot {action} it")
    return complaint


async def respond(
    complaint_id: int, actor: Staff, text: str, notices: Notices, now: datetime
) -> ComplaintEvent:
    """Answer the customer; the first answer is the complaint's first response."""
    message = clean_text("text", text)
    complaint = await _handleable(complaint_id, actor, "respond to")
    async with in_transaction():
        await _mark_responded(complaint, now)
        complaint = await Complaint.get(id=complaint.id)
        event = await trail.record(complaint, EventKind.RESPONDED, Actor.of(actor), now, text=message)
        await notify_customer(
            notices,
            complaint,
            "response_push",
            step=f"response:{event.id}",
            now=now,
            message=message,
            staff=actor,
        )
    return event


async def _mark_responded(complaint: Complaint, now: datetime) -> None:
    """Record the first response (once) and move an open complaint to in progress."""
    await Complaint.filter(id=complaint.id, first_response_at__isnull=True).update(first_response_at=now)
    await Complaint.filter(id=complaint.id, status=ComplaintStatus.OPEN).update(
        status=ComplaintStatus.IN_PROGRESS
    )


async def add_note(complaint_id: int, actor: Staff, text: str, now: datetime) -> ComplaintEvent:
    """An internal note: never shown to the customer. Allowed at any status, for the record."""
    note = clean_text("text", text)
    complaint = await visible_complaints(actor).get_or_none(id=complaint_id)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if not can_handle(actor, complaint):
        raise NotAllowed(f"staff {actor.id} may not add notes to complaint {complaint.number}")
    return await trail.record(complaint, EventKind.NOTED, Actor.of(actor), now, text=note)


async def resolve(
    complaint_id: int,
    actor: Staff,
    resolution: str,
    cause: ComplaintCause | str,
    notices: Notices,
    now: datetime,
) -> Complaint:
    """Resolve the current cycle; the customer is told and asked for a 1-5 score in chat.

    Resolving unanswered counts as the first response (the resolution is an answer). With no
    score within the store's survey days, the escalate-complaints job closes the complaint.
    """
    text = clean_text("resolution", resolution)
    try:
        cause = ComplaintCause(cause)
    except ValueError:
        raise InvalidInput("cause", f"must be one of {', '.join(c.value for c in ComplaintCause)}") from None
    complaint = await _handleable(complaint_id, actor, "resolve")
    policy = await policy_for(complaint.store_id)
    async with in_transaction():
        await _mark_responded(complaint, now)
        changed = await Complaint.filter(
            id=complaint.id, cycle=complaint.cycle, status__in=OPEN_STATUSES
        ).update(
            status=ComplaintStatus.RESOLVED,
            resolved_at=now,
            resolution=text,
            cause=cause,
            autoclose_at=policy.autoclose_after(now),
        )
        if changed != 1:
            raise ConcurrentChange(f"complaint {complaint.number} changed meanwhile; reload it")
        await Complaint.filter(Q(first_resolved_at__isnull=True), id=complaint.id).update(
            first_resolved_at=now
        )
        complaint = await Complaint.get(id=complaint.id)
        await trail.record(
            complaint, EventKind.RESOLVED, Actor.of(actor), now, resolution=text, cause=cause.value
        )
        await notify_customer(
            notices, complaint, "resolved_push", step=f"c{complaint.cycle}:resolved", now=now, resolution=text
        )
    return complaint
