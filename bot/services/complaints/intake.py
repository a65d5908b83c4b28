"""Filing a complaint, and adding to one already open.

Filing is one transaction: the complaint with its number and SLA clock, the 'created' event,
its photos, the assignment and the assignee's notice. The confirming message's key is unique on
the complaint, so a retried or replayed confirmation returns the complaint already filed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import Complaint, ComplaintEvent, Customer, Staff, Store
from bot.models.complaint import OPEN_STATUSES, ComplaintCategory, EventKind
from bot.services.complaints import assignment, photos, trail
from bot.services.complaints.errors import ComplaintNotFound, InvalidInput, InvalidState
from bot.services.complaints.notices import Notices, StaffNotice, notify_staff
from bot.services.complaints.photos import IncomingPhoto
from bot.services.complaints.related import RelatedRecord
from bot.services.complaints.sla import policy_for
from bot.services.complaints.trail import CUSTOMER

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 2000
NUMBER_ATTEMPTS = 20


@dataclass(frozen=True)
class NewComplaint:
    """What the customer told the bot; `intake_key` is the key of the confirming message."""

    openid: str
    category: ComplaintCategory
    description: str
    intake_key: str
    phone: str = ""
    customer_id: int | None = None
    own_advisor_id: int | None = None  # the customer's advisor, or the one whose QR they followed
    photos: tuple[IncomingPhoto, ...] = ()
    related: RelatedRecord | None = None


@dataclass(frozen=True)
class Filed:
    complaint: Complaint
    created: bool  # False: this confirmation had already filed it


def clean_text(field: str, text: str) -> str:
    """Trimmed, non-empty and not too long; stored verbatim otherwise (pages escape it)."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput(field, "must not be empty")
    if len(cleaned) > MAX_TEXT_LENGTH:
        raise InvalidInput(field, f"at most {MAX_TEXT_LENGTH} characters")
    return cleaned


async def file_complaint(new: NewComplaint, notices: Notices, now: datetime) -> Filed:
    description = clean_text("description", new.description)
    if not new.customer_id and not new.phone:
        raise InvalidInput("phone", "an unbound customer must leave a phone number")
    existing = await _filed_by(new.intake_key)
    if existing is not None:
        return Filed(existing, created=False)
    customer = await Customer.get_or_none(id=new.customer_id) if new.customer_id is not None else None
    store_id = await _store_for(customer, new.own_advisor_id)
    policy = await policy_for(store_id)
    phone = new.phone or (customer.phone if customer is not None else "")
    try:
        async with in_transaction():
            complaint = await _create_numbered(
                now,
                notices,
                store_id=store_id,
                customer_id=new.customer_id,
                openid=new.openid,
                phone=phone,
                category=new.category,
                description=description,
                related_kind=new.related.kind if new.related else None,
                related_id=new.related.id if new.related else None,
                related_label=new.related.label if new.related else "",
                intake_key=new.intake_key,
                created_at=now,
                **policy.cycle_from(now),
            )
            await trail.record(
                complaint,
                EventKind.CREATED,
                CUSTOMER,
                now,
                category=new.category.value,
                photos=len(new.photos),
                related=f"{new.related.kind}:{new.related.id}" if new.related else None,
            )
            await photos.attach(complaint, new.photos, now)
            await assignment.assign_new(complaint, new.own_advisor_id, notices, now)
    except IntegrityError:
        existing = await _filed_by(new.intake_key)
        if existing is None:
            raise
        return Filed(existing, created=False)  # a concurrent attempt of the same confirmation won
    log.info("complaint filed", extra={"complaint": complaint.number, "store_id": store_id})
    filed = await _filed_by(new.intake_key)
    assert filed is not None
    return Filed(filed, created=True)


async def _filed_by(intake_key: str) -> Complaint | None:
    """The complaint a confirmation filed, with its assignee loaded for the reply."""
    return await Complaint.get_or_none(intake_key=intake_key).prefetch_related("assignee")


async def _store_for(customer: Customer | None, own_advisor_id: int | None) -> int | None:
    """The customer's store, else their advisor's, else the dealer's first store."""
    if customer is not None and customer.store_id is not None:  # type: ignore[attr-defined]
        return int(customer.store_id)  # type: ignore[attr-defined]
    advisor = await Staff.get_or_none(id=own_advisor_id) if own_advisor_id is not None else None
    if advisor is not None and advisor.store_id is not None:  # type: ignore[attr-defined]
        return int(advisor.store_id)  # type: ignore[attr-defined]
    first = await Store.all().order_by("id").first()
    return first.id if first is not None else None


async def _create_numbered(now: datetime, notices: Notices, **fields: Any) -> Complaint:
    """Insert with the day's next number (C20261123-0007); a number taken concurrently is retried."""
    day = notices.local(now).strftime("%Y%m%d")
    prefix = f"C{day}-"
    for _ in range(NUMBER_ATTEMPTS):
        last = await Complaint.filter(number__startswith=prefix).order_by("-number").first()
        sequence = int(last.number.removeprefix(prefix)) + 1 if last is not None else 1
        try:
            async with in_transaction():
                return await Complaint.create(number=f"{prefix}{sequence:04d}", **fields)
        except IntegrityError:
            if await Complaint.exists(intake_key=fields["intake_key"]):
                raise
    raise RuntimeError(f"no free complaint number for {day} after {NUMBER_ATTEMPTS} attempts")


async def open_complaint_of(openid: str) -> Complaint | None:
    """The customer's most recent complaint still being handled, to add to instead of a duplicate."""
    return (
        await Complaint.filter(openid=openid, status__in=OPEN_STATUSES).order_by("-created_at", "-id").first()
    )


async def add_from_customer(
    complaint_id: int,
    openid: str,
    notices: Notices,
    now: datetime,
    *,
    source_key: str,
    text: str = "",
    added_photos: tuple[IncomingPhoto, ...] = (),
) -> ComplaintEvent:
    """The customer adds a remark and/or photos to their open complaint; the assignee is told once.

    `source_key` (the key of the message that finished the addition) makes a replay add nothing.
    """
    complaint = await Complaint.get_or_none(id=complaint_id, openid=openid)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if not complaint.status.is_open:
        raise InvalidState(f"complaint {complaint.number} is {complaint.status.value}; nothing can be added")
    remark = clean_text("text", text) if text.strip() or not added_photos else ""
    existing = await ComplaintEvent.get_or_none(source_key=source_key)
    if existing is not None:
        return existing
    try:
        async with in_transaction():
            event = await trail.record(
                complaint,
                EventKind.CUSTOMER_ADDED,
                CUSTOMER,
                now,
                source_key=source_key,
                text=remark,
                media_ids=[photo.media_id for photo in added_photos],
            )
            await photos.attach(complaint, added_photos, now)
            assignee = await Staff.get_or_none(id=complaint.assignee_id) if complaint.assignee_id else None
            if assignee is not None:
                await notify_staff(
                    notices,
                    complaint,
                    assignee,
                    StaffNotice.CUSTOMER_ADDED,
                    step=f"added:{event.id}",
                    now=now,
                    actor=CUSTOMER,
                    added=remark,
                    photo_count=len(added_photos),
                )
    except IntegrityError:
        return await ComplaintEvent.get(source_key=source_key)
    return event
