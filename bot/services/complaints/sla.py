"""The complaint SLA: each store's deadlines, the clock of one cycle, and how close a deadline is.

A cycle starts when the complaint is filed and again each time a low survey score reopens it.
Its deadlines are computed once, from the store's policy at that moment, and stored on the row
(see `Complaint`), so changing a policy never moves the deadlines of complaints already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.models import Complaint, ComplaintPolicy, Staff
from bot.services.complaints.errors import InvalidInput, NotAllowed
from bot.services.complaints.permissions import can_manage_store

HOUR = timedelta(hours=1)
DUE_SOON = timedelta(hours=2)  # what the pages colour as "deadline near"


@dataclass(frozen=True)
class Policy:
    response_hours: int = 2
    resolution_hours: int = 24
    warning_hours: int = 2
    level2_hours: int = 48
    survey_days: int = 3

    def problems(self) -> list[InvalidInput]:
        """Every inconsistency, so a settings form can show them all at once."""
        found = []
        if not 1 <= self.response_hours <= self.resolution_hours:
            found.append(InvalidInput("response_hours", "must be at least 1 and at most resolution_hours"))
        if not 1 <= self.resolution_hours <= 24 * 14:
            found.append(InvalidInput("resolution_hours", "must be between 1 and 336"))
        if not 1 <= self.warning_hours < self.resolution_hours:
            found.append(InvalidInput("warning_hours", "must be at least 1 and less than resolution_hours"))
        if not self.resolution_hours < self.level2_hours <= 24 * 28:
            found.append(InvalidInput("level2_hours", "must be more than resolution_hours, at most 672"))
        if not 1 <= self.survey_days <= 30:
            found.append(InvalidInput("survey_days", "must be between 1 and 30"))
        return found

    def cycle_from(self, start: datetime) -> dict[str, Any]:
        """The clock fields of a cycle starting at `start`, ready to save on a `Complaint`."""
        due = start + self.resolution_hours * HOUR
        return {
            "cycle_started_at": start,
            "response_due_at": start + self.response_hours * HOUR,
            "due_at": due,
            "warn_at": due - self.warning_hours * HOUR,
            "level2_at": start + self.level2_hours * HOUR,
            "warned": False,
            "escalation_level": 0,
        }

    def autoclose_after(self, resolved_at: datetime) -> datetime:
        return resolved_at + timedelta(days=self.survey_days)


DEFAULT_POLICY = Policy()


async def policy_for(store_id: int | None) -> Policy:
    """The store's policy, or the defaults when it has none (or the complaint has no store)."""
    if store_id is None:
        return DEFAULT_POLICY
    row = await ComplaintPolicy.get_or_none(store_id=store_id)
    if row is None:
        return DEFAULT_POLICY
    return Policy(
        response_hours=row.response_hours,
        resolution_hours=row.resolution_hours,
        warning_hours=row.warning_hours,
        level2_hours=row.level2_hours,
        survey_days=row.survey_days,
    )


async def set_policy(store_id: int, policy: Policy, actor: Staff) -> Policy:
    """Change a store's deadlines (its managers, the GM or an admin); applies to new cycles only."""
    if not can_manage_store(actor, store_id):
        raise NotAllowed(f"staff {actor.id} may not change the complaint policy of store {store_id}")
    problems = policy.problems()
    if problems:
        raise problems[0]
    await ComplaintPolicy.update_or_create(
        defaults={
            "response_hours": policy.response_hours,
            "resolution_hours": policy.resolution_hours,
            "warning_hours": policy.warning_hours,
            "level2_hours": policy.level2_hours,
            "survey_days": policy.survey_days,
        },
        store_id=store_id,
    )
    return policy


class Urgency(StrEnum):
    """How a deadline looks to whoever must meet it; the pages choose colours from this."""

    MET = "met"
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    met_at: datetime | None
    remaining: timedelta  # negative once overdue; zero when met
    urgency: Urgency


def deadline(due_at: datetime, met_at: datetime | None, now: datetime) -> Deadline:
    if met_at is not None:
        return Deadline(due_at, met_at, timedelta(0), Urgency.MET)
    remaining = due_at - now
    if remaining <= timedelta(0):
        urgency = Urgency.OVERDUE
    elif remaining <= DUE_SOON:
        urgency = Urgency.DUE_SOON
    else:
        urgency = Urgency.ON_TRACK
    return Deadline(due_at, None, remaining, urgency)


def response_deadline(complaint: Complaint, now: datetime) -> Deadline:
    return deadline(complaint.response_due_at, complaint.first_response_at, now)


def resolution_deadline(complaint: Complaint, now: datetime) -> Deadline:
    """The current cycle's resolution deadline (met by the resolution of this cycle)."""
    return deadline(complaint.due_at, complaint.resolved_at, now)
