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


Step = Callable[[Complaint, Notices, datetime], Awaitable[None]]


async def run(notices: Notices, now: datetime) -> EscalationReport:
    """Take every step that is due at `now`, oldest deadline first."""
    report = EscalationReport()
    report.warned = await _take(_warning_due(now), "warn_at", {"warned": True}, _warn, notices, now)
    report.level1 = await _take(
        _level_due(0, "due_at", now), "due_at", {"escalation_level": 1}, _level1, notices, now
    )
    report.level2 = await _take(
        _level_due(1, "level2_at", now), "level2_at", {"escalation_level": 2}, _level2, notices, now
    )
    report.closed = await _take(
        Q(status=ComplaintStatus.RESOLVED, autoclose_at__lte=now),
        "autoclose_at",
        {"status": ComplaintStatus.CLOSED, "closed_at": now, "autoclose_at": None},
        _close,
        notices,
        now,
    )
    return report


def _warning_due(now: datetime) -> Q:
    """Warn only before the breach: after it, level 1 says more than a late warning would."""
    return Q(status__in=OPEN_STATUSES, warned=False, warn_at__lte=now, due_at__gt=now)


def _level_due(current: int, deadline: str, now: datetime) -> Q:
    passed: dict[str, Any] = {f"{deadline}__lte": now}
    return Q(status__in=OPEN_STATUSES, escalation_level=current) & Q(**passed)


async def _take(
    due: Q, order: str, claim: dict[str, object], step: Step, notices: Notices, now: datetime
) -> int:
    taken = 0
    candidates = await Complaint.filter(due).order_by(order, "id").limit(BATCH).values_list("id", "cycle")
    for complaint_id, cycle in candidates:
        async with in_transaction():
            if await Complaint.filter(due, id=complaint_id, cycle=cycle).update(**claim) != 1:
                continue  # another runner took this step, or the complaint changed meanwhile
            await step(await Complaint.get(id=complaint_id), notices, now)
        taken += 1
    return taken


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
