"""The satisfaction survey after a resolution: a 1-5 score (or 满意/不满意) answered in chat.

A low score (1-2, or 不满意) reopens the complaint to the same assignee with a fresh SLA cycle
and tells the store's 客服经理; any other score closes it. The answer is claimed with a
conditional update on the resolved cycle, so a repeated answer changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from bot.models import Complaint, Role, Staff
from bot.models.complaint import ComplaintStatus, EventKind
from bot.services.complaints import assignment, trail
from bot.services.complaints.errors import ComplaintNotFound, InvalidState
from bot.services.complaints.notices import Notices, StaffNotice, notify_all, store_staff
from bot.services.complaints.sla import policy_for
from bot.services.complaints.trail import CUSTOMER

REOPEN_AT_OR_BELOW = 2
SATISFIED_FROM = 4  # 投诉处理满意度 counts scores of 4 and 5
_SCORE = re.compile(r"([1-5])分?")
_EDGES = " \t\r\n,.!。，！~"
UNSATISFIED_WORDS = ("不满意", "不太满意")
SATISFIED_WORD = "满意"
UNSATISFIED_SCORE, SATISFIED_SCORE = 1, 5


@dataclass(frozen=True)
class SurveyAnswer:
    score: int
    said: str  # what the customer wrote, kept in the trail


def parse_answer(text: str) -> SurveyAnswer | None:
    """A bare 1-5 ("4", "４分") or a 满意/不满意 reply; None for anything else."""
    said = unicodedata.normalize("NFKC", text).strip(_EDGES)
    match = _SCORE.fullmatch(said)
    if match:
        return SurveyAnswer(int(match[1]), said)
    if any(word in said for word in UNSATISFIED_WORDS):
        return SurveyAnswer(UNSATISFIED_SCORE, said)
    if SATISFIED_WORD in said:
        return SurveyAnswer(SATISFIED_SCORE, said)
    return None


async def awaiting_survey(openid: str) -> Complaint | None:
    """The customer's most recently resolved complaint still waiting for their score."""
    return (
        await Complaint.filter(openid=openid, status=ComplaintStatus.RESOLVED)
        .order_by("-resolved_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class SurveyOutcome:
    complaint: Complaint
    reopened: bool


async def answer(
    complaint_id: int, openid: str, survey: SurveyAnswer, notices: Notices, now: datetime
) -> SurveyOutcome:
    complaint = await Complaint.get_or_none(id=complaint_id, openid=openid)
    if complaint is None:
        raise ComplaintNotFound(complaint_id)
    reopen = survey.score <= REOPEN_AT_OR_BELOW
    scored = {"survey_score": survey.score, "surveyed_at": now, "autoclose_at": None}
    if reopen:
        policy = await policy_for(complaint.store_id)
        changes = {
            **scored,
            **policy.cycle_from(now),
            "status": ComplaintStatus.IN_PROGRESS,
            "cycle": complaint.cycle + 1,
            "resolved_at": None,
        }
    else:
        changes = {**scored, "status": ComplaintStatus.CLOSED, "closed_at": now}
    async with in_transaction():
        claimed = await Complaint.filter(
            id=complaint.id, cycle=complaint.cycle, status=ComplaintStatus.RESOLVED
        ).update(**changes)
        if claimed != 1:
            raise InvalidState(f"complaint {complaint.number} is not waiting for a survey answer")
        await trail.record(complaint, EventKind.SURVEYED, CUSTOMER, now, score=survey.score, said=survey.said)
        complaint = await Complaint.get(id=complaint.id)
        if reopen:
            await _reopen(complaint, notices, now)
        else:
            await trail.record(complaint, EventKind.CLOSED, CUSTOMER, now, reason="surveyed")
    return SurveyOutcome(await Complaint.get(id=complaint.id).prefetch_related("assignee"), reopen)


async def _reopen(complaint: Complaint, notices: Notices, now: datetime) -> None:
    """Back to the same assignee (if still active) with a fresh clock; they and the 客服经理 are told."""
    await trail.record(complaint, EventKind.REOPENED, CUSTOMER, now, due_at=complaint.due_at)
    assignee = (
        await Staff.get_or_none(id=complaint.assignee_id, active=True) if complaint.assignee_id else None
    )
    if assignee is None:
        await assignment.assign_new(complaint, None, notices, now)
        assignee = await Staff.get_or_none(id=complaint.assignee_id) if complaint.assignee_id else None
    managers = await store_staff(complaint.store_id, [Role.SERVICE_MANAGER])
    recipients = {staff.id: staff for staff in [*([assignee] if assignee else []), *managers]}
    await notify_all(
        notices,
        complaint,
        recipients.values(),
        StaffNotice.REOPENED,
        step=f"c{complaint.cycle}:reopened",
        now=now,
    )
