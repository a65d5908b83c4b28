"""The SLA clock's consequences, driven from the database by the escalate-complaints job.

Each step is claimed with a conditional UPDATE whose WHERE clause is the whole rule (still open,
this cycle, deadline passed, step not yet taken); only the runner whose UPDATE changed the row
writes the trail and queues the notices, in the same transaction. So each step happens once per
complaint and cycle whatever restarts, repeated runs, or number of runners, and a complaint
resolved in the meantime no longer matches.

    warning  resolution due in 2 h   -> the assignee
    level 1  resolution due passed   -> the store's 客服经理 and 售后经理 (the GM if it has none)
    level 2  48 h into the cycle     -> the GM
    close    resolved, no survey answer within the survey days
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.models import Complaint, Role, Staff
from bot.models.complaint import OPEN_STATUSES, ComplaintStatus, EventKind
from bot.services.complaints import trail
from bot.services.complaints.notices import Notices, StaffNotice, general_managers, notify_all, store_staff
from bot.services.complaints.trail import SYSTEM

log = logging.getLogger(__name__)

LEVEL1_ROLES = (Role.SERVICE_MANAGER, Role.AFTERSALES_MANAGER)
BATCH = 100


@dataclass
class EscalationReport:
    warned: int = 0
    level1: int = 0
    level2: int = 0
    closed: int = 0

    def __str__(self) -> str:
        return f"warned {self.warned}, level 1 {self.level1}, level 2 {self.level2}, closed {self.closed}"


@dataclass(frozen=True)
class Step:
    """One consequence of the clock: when it is due, how it is claimed, what it then does."""

    counter: str  # the EscalationReport field it counts in
    due: Callable[[datetime], Q]
    claim: Callable[[datetime], dict[str, Any]]
    act: Callable[[Complaint, Notices, datetime], Awaitable[None]]


async def run(notices: Notices, now: datetime) -> EscalationReport:
    """Take every step due at `now`; one query finds the complaints with anything due."""
    report = EscalationReport()
    anything_due = Q(*(step.due(now) for step in STEPS), join_type=Q.OR)
    candidates = await Complaint.filter(anything_due).order_by("id").limit(BATCH).values_list("id", "cycle")
    for complaint_id, cycle in candidates:
        for step in STEPS:  # in order: a complaint found late gets its warning before level 1
            if await _take(step, complaint_id, cycle, notices, now):
                setattr(report, step.counter, getattr(report, step.counter) + 1)
    return report


async def _take(step: Step, complaint_id: int, cycle: int, notices: Notices, now: datetime) -> bool:
    """Claim the step for this runner and act on it, in one transaction; False if not due or taken."""
    async with in_transaction():
        claimed = await Complaint.filter(step.due(now), id=complaint_id, cycle=cycle).update(
            **step.claim(now)
        )
        if claimed != 1:
            return False  # not due, another runner took it, or the complaint changed meanwhile
        await step.act(await Complaint.get(id=complaint_id), notices, now)
    return True


def _warning_due(now: datetime) -> Q:
    """Warn only before the breach: after it, level 1 says more than a late warning would."""
    return Q(status__in=OPEN_STATUSES, warned=False, warn_at__lte=now, due_at__gt=now)


def _level1_due(now: datetime) -> Q:
    return Q(status__in=OPEN_STATUSES, escalation_level=0, due_at__lte=now)


def _level2_due(now: datetime) -> Q:
    return Q(status__in=OPEN_STATUSES, escalation_level=1, level2_at__lte=now)


def _close_due(now: datetime) -> Q:
    return Q(status=ComplaintStatus.RESOLVED, autoclose_at__lte=now)


async def _warn(complaint: Complaint, notices: Notices, now: datetime) -> None:
    assignee = await Staff.get_or_none(id=complaint.assignee_id) if complaint.assignee_id else None
    await trail.record(complaint, EventKind.WARNED, SYSTEM, now, due_at=complaint.due_at)
    if assignee is not None:
        await notify_all(
            notices, complaint, [assignee], StaffNotice.WARNING, step=f"c{complaint.cycle}:warning", now=now
        )


async def _level1(complaint: Complaint, notices: Notices, now: datetime) -> None:
    managers = await store_staff(complaint.store_id, LEVEL1_ROLES)
    await _escalate(complaint, 1, managers or await general_managers(), notices, now)


async def _level2(complaint: Complaint, notices: Notices, now: datetime) -> None:
    await _escalate(complaint, 2, await general_managers(), notices, now)


async def _escalate(
    complaint: Complaint, level: int, recipients: list[Staff], notices: Notices, now: datetime
) -> None:
    if not recipients:
        log.warning("complaint escalated to nobody", extra={"complaint": complaint.number, "level": level})
    await trail.record(
        complaint, EventKind.ESCALATED, SYSTEM, now, level=level, to=[staff.id for staff in recipients]
    )
    await notify_all(
        notices,
        complaint,
        recipients,
        StaffNotice.ESCALATED,
        step=f"c{complaint.cycle}:level{level}",
        now=now,
    )
    log.info(
        "complaint escalated", extra={"complaint": complaint.number, "level": level, "cycle": complaint.cycle}
    )


async def _close(complaint: Complaint, notices: Notices, now: datetime) -> None:
    await trail.record(complaint, EventKind.CLOSED, SYSTEM, now, reason="no_survey_answer")


STEPS = (
    Step("warned", _warning_due, lambda now: {"warned": True}, _warn),
    Step("level1", _level1_due, lambda now: {"escalation_level": 1}, _level1),
    Step("level2", _level2_due, lambda now: {"escalation_level": 2}, _level2),
    Step(
        "closed",
        _close_due,
        lambda now: {"status": ComplaintStatus.CLOSED, "closed_at": now, "autoclose_at": None},
        _close,
    ),
)
