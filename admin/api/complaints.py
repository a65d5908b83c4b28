"""Complaints (SPEC §5) for staff tools: list, detail with the audit trail, respond, resolve, and
the complaint figures for a period and store.

The complaint services own the rules: an advisor sees only the complaints assigned to them
(another's is 404, like a missing one), managers their store's, the GM and admins all. Reading
and acting on complaints needs a staff token, since every view and every answer is someone's
and the trail records who; the figures, being counts, are open to the DMS's API key as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints

from admin.access import GRANTS, Permission, allows, is_group_wide
from admin.api import rules
from admin.api.errors import Conflict, Forbidden, Invalid, NotFound
from admin.api.principal import Principal
from admin.api.registry import Access, Call, Routes
from admin.api.schemas import (
    ById,
    Page,
    Paging,
    QueryDate,
    QueryId,
    QueryModel,
    RequestModel,
    ResponseModel,
)
from bot.models import Staff
from bot.models.complaint import (
    ActorKind,
    ComplaintCategory,
    ComplaintCause,
    ComplaintStatus,
    EventKind,
)
from bot.services.complaints import handling, queries
from bot.services.complaints.errors import (
    ComplaintError,
    ComplaintNotFound,
    InvalidInput,
    NotAllowed,
)
from bot.services.complaints.figures import (
    COMPLAINT_RATE_TARGET,
    SATISFACTION_TARGET,
    ComplaintFigures,
    complaint_figures,
)
from bot.services.complaints.intake import MAX_TEXT_LENGTH
from bot.services.complaints.notices import Notices
from bot.services.complaints.queries import ComplaintDetail, ComplaintFilter, ComplaintRow
from bot.services.complaints.sla import Deadline, Urgency

routes = Routes("complaints")

STAFF_ROLES = ", ".join(sorted(role.value for role in GRANTS[Permission.VIEW_COMPLAINTS]))
COMPLAINT_STAFF = Access(
    f"staff tokens of roles {STAFF_ROLES} (not API keys)",
    lambda p: p.staff is not None and allows(p.staff, Permission.VIEW_COMPLAINTS),
)
FIGURES = rules.permitted(Permission.SUPERVISE_COMPLAINTS)
# the days whose local midnights Python can still express in UTC (the period is clamped to them)
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)

# Free text: several lines allowed, no other control characters, and not only white space.
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
Text = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        pattern=rf"^{_TEXT_CHAR}*[^\s\x00-\x1f\x7f]{_TEXT_CHAR}*$",
    ),
]
Day = Annotated[QueryDate, Field(description="A local day (the dealer's time zone), YYYY-MM-DD.")]


# --- models -----------------------------------------------------------------------------------


class DeadlineOut(ResponseModel):
    due_at: datetime
    met_at: datetime | None = Field(description="When it was met (responded to / resolved); null if not yet.")
    remaining_seconds: int = Field(
        description="Left at the time of the answer: negative once overdue, 0 once met."
    )
    urgency: Urgency


class ComplaintOut(ResponseModel):
    id: int
    number: str
    status: ComplaintStatus
    category: ComplaintCategory
    summary: str = Field(description="The start of the description, verbatim: escape it before showing it.")
    store_id: int | None
    store_name: str
    customer_name: str
    phone: str = Field(description="Masked in lists; in full in the detail.")
    assignee_id: int | None
    assignee_name: str
    created_at: datetime
    age_seconds: int
    cycle: int = Field(description="1, then one more each time a low survey score reopens it.")
    escalation_level: int = Field(description="0; 1 once past the resolution deadline; 2 at 48 hours.")
    response: DeadlineOut = Field(description="The first-response deadline.")
    resolution: DeadlineOut = Field(description="The current cycle's resolution deadline.")


class EventOut(ResponseModel):
    id: int
    kind: EventKind
    cycle: int
    actor_kind: ActorKind
    actor_id: int | None
    actor_name: str
    at: datetime
    details: dict[str, Any] = Field(description="What the event says, e.g. the response's text.")


class PhotoOut(ResponseModel):
    id: int
    media_id: str
    received_at: datetime
    stored: bool = Field(description="Copied out of WeChat into the dealer's storage.")
    gave_up: bool = Field(description="WeChat's copy expired before it could be stored.")


class ComplaintDetailOut(ComplaintOut):
    description: str = Field(description="Verbatim, as the customer wrote it: escape it before showing it.")
    related_kind: str | None
    related_label: str
    resolution_text: str
    cause: ComplaintCause | None
    survey_score: int | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[EventOut] = Field(description="The audit trail, oldest first.")
    photos: list[PhotoOut]


class ComplaintQuery(Paging):
    status: ComplaintStatus | None = None
    store: QueryId | None = Field(None, description="A store id.")
    assignee: QueryId | None = Field(None, description="A staff id.")
    escalated: bool | None = Field(None, description="true: escalated (level 1 or 2); false: not.")
    from_: Day | None = Field(None, alias="from", description="Filed on or after this local day.")
    to: Day | None = Field(None, description="Filed on or before this local day.")


class RespondIn(RequestModel):
    text: Text = Field(description="Sent to the customer in WeChat and kept in the trail.")


class ResolveIn(RequestModel):
    resolution: Text = Field(description="Sent to the customer with the satisfaction survey.")
    cause: ComplaintCause


class FiguresQuery(QueryModel):
    store: QueryId | None = Field(
        None, description="A store id; left out: every store (GM, admin, DMS) or the manager's own."
    )
    from_: Day = Field(alias="from", description="First local day of the period.")
    to: Day = Field(description="Last local day of the period (inclusive).")


class EscalationsOut(ResponseModel):
    level1: int
    level2: int


class FiguresOut(ResponseModel):
    """Definitions as in bot.services.complaints.figures (the dealer's management standard)."""

    store_id: int | None
    start: datetime
    end: datetime = Field(description="Exclusive.")
    complaints: int
    serviced_customers: int
    serviced_source: Literal["work_orders", "vehicles"]
    complaint_rate: float | None = Field(description="投诉抱怨率: complaints ÷ serviced customers.")
    complaint_rate_target: float = Field(description="At most.")
    closure_eligible: int
    closed_within_24h: int
    closure_rate_24h: float | None = Field(description="24 小时结案率.")
    responded: int
    mean_first_response_seconds: float | None = Field(description="首次响应时长, mean.")
    escalations: EscalationsOut = Field(description="Escalations that happened in the period.")
    surveyed: int
    satisfied: int
    satisfaction: float | None = Field(description="投诉处理满意度: share of survey answers scoring 4-5.")
    satisfaction_target: float = Field(description="At least.")


# --- endpoints --------------------------------------------------------------------------------
# /complaints/figures is declared before /complaints/{id}, so that the word is not taken for an id.


@routes.route(
    "GET",
    "/complaints/figures",
    access=FIGURES,
    query=FiguresQuery,
    response=FiguresOut,
    errors=(404,),
)
async def complaint_figures_for(call: Call, query: FiguresQuery) -> FiguresOut:
    """Complaint figures for a period and a store.

    Managers get their own store's (another store is 404); the GM, admins and the DMS any
    store's, or every store's together when `store` is left out.
    """
    if query.to < query.from_:
        raise Invalid("The period is invalid.", {"to": "must not be before from"})
    store_id = await _figures_store(call.principal, query.store)
    tz = call.settings.tz
    start, end = _start(query.from_, tz), _end(query.to, tz)
    return _figures_out(await complaint_figures(store_id, start, end, call.now, tz))


@routes.route(
    "GET",
    "/complaints",
    access=COMPLAINT_STAFF,
    query=ComplaintQuery,
    response=Page[ComplaintOut],
)
async def list_complaints(call: Call, query: ComplaintQuery) -> dict[str, Any]:
    """List complaints, newest first."""
    if query.from_ and query.to and query.to < query.from_:
        raise Invalid("The period is invalid.", {"to": "must not be before from"})
    tz = call.settings.tz
    filters = ComplaintFilter(
        statuses=(query.status,) if query.status else (),
        store_id=query.store,
        assignee_id=query.assignee,
        escalated=query.escalated,
        created_from=_start(query.from_, tz) if query.from_ else None,
        created_to=_end(query.to, tz) if query.to else None,
    )
    with _refusals():
        found = await queries.list_complaints(
            _staff(call), filters, call.now, limit=query.limit, offset=query.offset
        )
    return {
        "items": [_row(row) for row in found.rows],
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
    }


@routes.route(
    "GET",
    "/complaints/{id}",
    access=COMPLAINT_STAFF,
    path_params=ById,
    response=ComplaintDetailOut,
)
async def get_complaint(call: Call, path: ById) -> dict[str, Any]:
    """Read a complaint with its audit trail and photos."""
    return await _detail(call, path.id)


@routes.route(
    "POST",
    "/complaints/{id}/respond",
    access=COMPLAINT_STAFF,
    path_params=ById,
    body=RespondIn,
    response=ComplaintDetailOut,
    errors=(409,),
)
async def respond_to_complaint(call: Call, path: ById, body: RespondIn) -> dict[str, Any]:
    """Answer the customer; the answer goes to them in WeChat (through the outbox).

    The assignee, or a manager of the complaint's store (the GM and admins: any store). The
    first answer stops the first-response clock. 409 once the complaint is resolved or closed.
    """
    with _refusals():
        await handling.respond(
            path.id, _staff(call), body.text, Notices.from_settings(call.settings), call.now
        )
    return await _detail(call, path.id)


@routes.route(
    "POST",
    "/complaints/{id}/resolve",
    access=COMPLAINT_STAFF,
    path_params=ById,
    body=ResolveIn,
    response=ComplaintDetailOut,
    errors=(409,),
)
async def resolve_complaint(call: Call, path: ById, body: ResolveIn) -> dict[str, Any]:
    """Resolve a complaint; the customer gets the resolution and the 1-5 satisfaction survey.

    Who may: as for responding. 409 when it is already resolved or closed, or changed meanwhile.
    """
    notices = Notices.from_settings(call.settings)
    with _refusals():
        await handling.resolve(path.id, _staff(call), body.resolution, body.cause, notices, call.now)
    return await _detail(call, path.id)


# --- helpers ----------------------------------------------------------------------------------


def _staff(call: Call) -> Staff:
    staff = call.principal.staff
    assert staff is not None  # COMPLAINT_STAFF admits staff tokens only
    return staff


async def _detail(call: Call, complaint_id: int) -> dict[str, Any]:
    with _refusals():
        detail = await queries.complaint_detail(_staff(call), complaint_id, call.now)
    return _detail_out(detail)


@contextmanager
def _refusals() -> Iterator[None]:
    """The services' refusals as the API's errors; nothing was changed."""
    try:
        yield
    except ComplaintNotFound:
        raise NotFound("No such complaint.") from None
    except NotAllowed as exc:
        raise Forbidden(exc.message) from None
    except InvalidInput as exc:
        raise Invalid(exc.message, {exc.field: exc.message}) from None
    except ComplaintError as exc:  # invalid state, or changed meanwhile
        raise Conflict(exc.message) from None


async def _figures_store(principal: Principal, requested: int | None) -> int | None:
    """The store whose figures to count: a manager's own unless they name it; any for the rest."""
    staff = principal.staff
    if requested is None:
        return None if staff is None or is_group_wide(staff) else staff.store_id  # type: ignore[attr-defined,no-any-return]
    if not await rules.stores(principal).filter(id=requested).exists():
        raise NotFound("No such store.")
    return requested


def _start(day: date, tz: ZoneInfo) -> datetime:
    """The day's local midnight; days at the ends of the calendar are clamped (no complaint
    is that old or that far ahead, and UTC could not express them)."""
    return datetime.combine(min(max(day, FIRST_DAY), LAST_DAY), time.min, tzinfo=tz)


def _end(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight after the day."""
    return _start(day, tz) + timedelta(days=1)


def _deadline(deadline: Deadline) -> dict[str, Any]:
    return {
        "due_at": deadline.due_at,
        "met_at": deadline.met_at,
        "remaining_seconds": int(deadline.remaining.total_seconds()),
        "urgency": deadline.urgency,
    }


def _row(row: ComplaintRow) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in ComplaintOut.model_fields if hasattr(row, name)}
    return {
        **fields,
        "age_seconds": int(row.age.total_seconds()),
        "response": _deadline(row.response),
        "resolution": _deadline(row.resolution),
    }


def _detail_out(detail: ComplaintDetail) -> dict[str, Any]:
    return {
        **_row(detail.row),
        "phone": detail.phone,
        "description": detail.description,
        "related_kind": detail.related_kind,
        "related_label": detail.related_label,
        "resolution_text": detail.resolution,
        "cause": detail.cause,
        "survey_score": detail.survey_score,
        "first_response_at": detail.first_response_at,
        "resolved_at": detail.resolved_at,
        "closed_at": detail.closed_at,
        "events": detail.events,
        "photos": [
            {
                "id": p.id,
                "media_id": p.media_id,
                "received_at": p.received_at,
                "stored": p.fetched_at is not None,
                "gave_up": p.gave_up,
            }
            for p in detail.photos
        ],
    }


def _figures_out(f: ComplaintFigures) -> FiguresOut:
    return FiguresOut(
        store_id=f.store_id,
        start=f.start,
        end=f.end,
        complaints=f.complaints,
        serviced_customers=f.serviced_customers,
        serviced_source=f.serviced_source,  # type: ignore[arg-type]
        complaint_rate=f.complaint_rate,
        complaint_rate_target=COMPLAINT_RATE_TARGET,
        closure_eligible=f.closure_eligible,
        closed_within_24h=f.closed_within_24h,
        closure_rate_24h=f.closure_rate_24h,
        responded=f.responded,
        mean_first_response_seconds=(
            f.mean_first_response.total_seconds() if f.mean_first_response is not None else None
        ),
        escalations=EscalationsOut(level1=f.escalations.get(1, 0), level2=f.escalations.get(2, 0)),
        surveyed=f.surveyed,
        satisfied=f.satisfied,
        satisfaction=f.satisfaction,
        satisfaction_target=SATISFACTION_TARGET,
    )
