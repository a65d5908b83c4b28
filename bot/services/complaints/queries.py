"""The read side for the staff pages and the API: lists, the escalation board, one complaint's detail.

Every query takes the viewer and narrows to what they may see (`permissions.visible_complaints`),
so a page cannot forget the rule. Results are plain dataclasses with deadlines already worked
out for `now`. Text is returned verbatim as the customer typed it: escaping is the page's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.queryset import QuerySet

from bot.conversation.validators import mask_mobile
from bot.models import Complaint, ComplaintEvent, ComplaintPhoto, Staff
from bot.models.complaint import OPEN_STATUSES, ActorKind, ComplaintCategory, ComplaintStatus, EventKind
from bot.services.complaints.assignment import ASSIGNABLE_ROLES
from bot.services.complaints.errors import ComplaintNotFound, InvalidInput
from bot.services.complaints.permissions import can_manage_store, visible_complaints
from bot.services.complaints.sla import Deadline, resolution_deadline, response_deadline

MAX_PAGE = 200
SUMMARY_LENGTH = 40


@dataclass(frozen=True)
class ComplaintRow:
    id: int
    number: str
    status: ComplaintStatus
    category: ComplaintCategory
    summary: str
    store_id: int | None
    store_name: str
    customer_name: str
    phone: str  # masked
    assignee_id: int | None
    assignee_name: str
    created_at: datetime
    age: timedelta
    cycle: int
    escalation_level: int
    response: Deadline
    resolution: Deadline


@dataclass(frozen=True)
class EventView:
    id: int
    kind: EventKind
    cycle: int
    actor_kind: ActorKind
    actor_id: int | None
    actor_name: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class PhotoView:
    id: int
    media_id: str
    path: str | None  # relative to the media folder, once fetched
    received_at: datetime
    fetched_at: datetime | None
    gave_up: bool


@dataclass(frozen=True)
class ComplaintDetail:
    row: ComplaintRow
    description: str
    phone: str  # in full: whoever may see the complaint must be able to call back
    related_kind: str | None
    related_label: str
    resolution: str
    cause: str | None
    survey_score: int | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[EventView]
    photos: list[PhotoView]


@dataclass(frozen=True)
class ComplaintFilter:
    """List filters; all optional. `created_to` is exclusive; `escalated` means level 1 or more."""

    statuses: tuple[ComplaintStatus, ...] = ()
    store_id: int | None = None
    assignee_id: int | None = None
    escalated: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class Page:
    rows: list[ComplaintRow]
    total: int
    limit: int
    offset: int
    filters: ComplaintFilter = field(default_factory=ComplaintFilter)


def _row(complaint: Complaint, now: datetime) -> ComplaintRow:
    customer, store, assignee = complaint.customer, complaint.store, complaint.assignee
    flat = " ".join(complaint.description.split())
    return ComplaintRow(
        id=complaint.id,
        number=complaint.number,
        status=complaint.status,
        category=complaint.category,
        summary=flat if len(flat) <= SUMMARY_LENGTH else flat[: SUMMARY_LENGTH - 1] + "…",
        store_id=complaint.store_id,
        store_name=store.name if store is not None else "",
        customer_name=customer.name if customer is not None else "",
        phone=mask_mobile(complaint.phone) if complaint.phone else "",
        assignee_id=complaint.assignee_id,
        assignee_name=assignee.name if assignee is not None else "",
        created_at=complaint.created_at,
        age=now - complaint.created_at,
        cycle=complaint.cycle,
        escalation_level=complaint.escalation_level,
        response=response_deadline(complaint, now),
        resolution=resolution_deadline(complaint, now),
    )


def _with_relations(query: QuerySet[Complaint]) -> QuerySet[Complaint]:
    return query.select_related("store", "assignee", "customer")


async def my_open_complaints(advisor: Staff, now: datetime) -> list[ComplaintRow]:
    """What an advisor must work on: their open complaints, nearest resolution deadline first."""
    query = Complaint.filter(assignee_id=advisor.id, status__in=OPEN_STATUSES) if advisor.active else None
    if query is None:
        return []
    return [_row(c, now) for c in await _with_relations(query).order_by("due_at", "id")]


async def escalation_board(viewer: Staff, now: datetime) -> list[ComplaintRow]:
    """Open escalated complaints the viewer may see: level 2 first, then the longest overdue."""
    query = visible_complaints(viewer).filter(status__in=OPEN_STATUSES, escalation_level__gte=1)
    return [_row(c, now) for c in await _with_relations(query).order_by("-escalation_level", "due_at", "id")]


async def list_complaints(
    viewer: Staff, filters: ComplaintFilter, now: datetime, *, limit: int = 50, offset: int = 0
) -> Page:
    """The viewer's complaints (their own, their store's, or all), filtered, newest first."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise InvalidInput("offset", "must not be negative")
    if filters.created_from and filters.created_to and filters.created_from >= filters.created_to:
        raise InvalidInput("created_to", "must be after created_from")
    query = visible_complaints(viewer)
    if filters.statuses:
        query = query.filter(status__in=list(filters.statuses))
    if filters.store_id is not None:
        query = query.filter(store_id=filters.store_id)
    if filters.assignee_id is not None:
        query = query.filter(assignee_id=filters.assignee_id)
    if filters.escalated is not None:
        query = (
            query.filter(escalation_level__gte=1) if filters.escalated else query.filter(escalation_level=0)
        )
    if filters.created_from is not None:
        query = query.filter(created_at__gte=filters.created_from)
    if filters.created_to is not None:
        query = query.filter(created_at__lt=filters.created_to)
    total = await query.count()
    complaints = await _with_relations(query).order_by("-created_at", "-id").offset(offset).limit(limit)
    return Page([_row(c, now) for c in complaints], total, limit, offset, filters)


async def complaint_detail(viewer: Staff, complaint_id: int, now: datetime) -> ComplaintDetail:
    """One complaint with its audit trail (oldest first) and photos; missing if not the viewer's."""
    complaint = await _with_relations(visible_complaints(viewer).filter(id=complaint_id)).first()
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    events = await ComplaintEvent.filter(complaint_id=complaint.id).order_by("at", "id")
    photos = await ComplaintPhoto.filter(complaint_id=complaint.id).order_by("received_at", "id")
    return ComplaintDetail(
        row=_row(complaint, now),
        description=complaint.description,
        phone=complaint.phone,
        related_kind=complaint.related_kind,
        related_label=complaint.related_label,
        resolution=complaint.resolution,
        cause=complaint.cause.value if complaint.cause else None,
        survey_score=complaint.survey_score,
        first_response_at=complaint.first_response_at,
        resolved_at=complaint.resolved_at,
        closed_at=complaint.closed_at,
        events=[
            EventView(
                id=e.id,
                kind=e.kind,
                cycle=e.cycle,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                actor_name=e.actor_name,
                at=e.at,
                details=e.details,
            )
            for e in events
        ],
        photos=[
            PhotoView(
                id=p.id,
                media_id=p.media_id,
                path=p.path,
                received_at=p.received_at,
                fetched_at=p.fetched_at,
                gave_up=p.gave_up_at is not None,
            )
            for p in photos
        ],
    )


async def reassign_candidates(viewer: Staff, complaint_id: int) -> list[Staff]:
    """Whom a manager may hand the complaint to (empty when the viewer may not reassign it)."""
    complaint = await visible_complaints(viewer).get_or_none(id=complaint_id)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    if not can_manage_store(viewer, complaint.store_id) or not complaint.status.is_open:
        return []
    staff = await Staff.filter(
        store_id=complaint.store_id,
        role__in=list(ASSIGNABLE_ROLES),
        active=True,
    ).order_by("role", "name", "id")
    return [s for s in staff if s.id != complaint.assignee_id]
