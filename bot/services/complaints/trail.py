"""The audit trail: the only code that writes `ComplaintEvent` rows, and it only ever adds them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import Complaint, ComplaintEvent, Staff
from bot.models.complaint import ActorKind, EventKind


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff member, the customer, or the system (the escalation job)."""

    kind: ActorKind
    staff: Staff | None = None

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        return cls(ActorKind.STAFF, staff)

    @property
    def name(self) -> str:
        return self.staff.name if self.staff is not None else ""


CUSTOMER = Actor(ActorKind.CUSTOMER)
SYSTEM = Actor(ActorKind.SYSTEM)


async def record(
    complaint: Complaint,
    kind: EventKind,
    actor: Actor,
    at: datetime,
    *,
    source_key: str | None = None,
    **details: Any,
) -> ComplaintEvent:
    """Append one event; `details` must be JSON-able (datetimes are written as ISO 8601)."""
    return await ComplaintEvent.create(
        complaint_id=complaint.id,
        kind=kind,
        cycle=complaint.cycle,
        actor_kind=actor.kind,
        actor=actor.staff,
        actor_name=actor.name,
        at=at,
        details={key: _jsonable(value) for key, value in details.items()},
        source_key=source_key,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
