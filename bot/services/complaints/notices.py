"""Telling people about a complaint: staff notices and customer updates, always through the outbox.

Staff are reached at their bound WeChat openid (template message "complaint_*", a service notice);
a staff member with no openid cannot be reached, and the trail says so instead of pretending.
Every notice has a dedup key built from the complaint, its cycle and the step, so a step that
runs twice queues one message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.conversation.texts import Texts
from bot.conversation.validators import mask_mobile
from bot.models import Complaint, ComplaintEvent, MessageCategory, Outbox, Role, Staff
from bot.models.complaint import EventKind
from bot.services import outbox
from bot.services.complaints import trail
from bot.services.complaints.trail import SYSTEM, Actor
from bot.settings import Settings

CUSTOMER_TEMPLATE = "complaint_update"  # the template message name for every update to a customer
SUMMARY_LENGTH = 60


class StaffNotice(StrEnum):
    """Staff notices; each value is both the template message name and the text template's name."""

    ASSIGNED = "complaint_assigned"
    WARNING = "complaint_warning"
    ESCALATED = "complaint_escalated"
    REOPENED = "complaint_reopened"
    CUSTOMER_ADDED = "complaint_customer_added"


@dataclass(frozen=True)
class Notices:
    """What rendering a notice needs: the reply templates and the dealer's time zone."""

    texts: Texts
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Notices:
        return cls(Texts(settings.templates_dir), settings.tz)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    async def facts(self, complaint: Complaint) -> dict[str, Any]:
        """The values every complaint template may use, times already in local time."""
        await complaint.fetch_related("customer", "assignee", "store")
        customer = complaint.customer
        return {
            "number": complaint.number,
            "category": complaint.category.label,
            "summary": _shorten(complaint.description),
            "customer": customer.name if customer is not None and customer.name else "",
            "phone": mask_mobile(complaint.phone) if complaint.phone else "",
            "store": complaint.store.name if complaint.store is not None else "",
            "assignee": complaint.assignee,
            "cycle": complaint.cycle,
            "level": complaint.escalation_level,
            "created": self.local(complaint.created_at),
            "response_due": self.local(complaint.response_due_at),
            "due": self.local(complaint.due_at),
        }

    async def render(self, template: str, complaint: Complaint, **values: Any) -> tuple[str, dict[str, str]]:
        """The text (customer-service message) and the data (template message) of one notice."""
        facts = await self.facts(complaint)
        text = self.texts.render(template, **{**facts, **values})
        first, _, rest = text.partition("\n")
        data = {
            "first": first,
            "keyword1": complaint.number,
            "keyword2": facts["category"],
            "keyword3": facts["due"].strftime("%Y-%m-%d %H:%M"),
            "remark": rest.strip(),
        }
        return text, data


async def notify_staff(
    notices: Notices,
    complaint: Complaint,
    recipient: Staff,
    notice: StaffNotice,
    *,
    step: str,
    now: datetime,
    actor: Actor = SYSTEM,
    **values: Any,
) -> ComplaintEvent:
    """Queue `notice` for `recipient` (once per complaint and `step`) and record it in the trail."""
    details: dict[str, Any] = {"notice": notice.value, "to": recipient.id, "to_name": recipient.name}
    if recipient.openid:
        text, data = await notices.render(
            f"staff_notices/{notice.value}", complaint, recipient=recipient, **values
        )
        row = await outbox.enqueue(
            openid=recipient.openid,
            text=text,
            category=MessageCategory.SERVICE,
            dedup_key=f"complaint:{complaint.id}:{step}:staff{recipient.id}",
            now=now,
            template_name=notice.value,
            template_data=data,
        )
        details["outbox_id"] = row.id
    else:
        details["not_notified"] = "no_openid"
    return await trail.record(complaint, EventKind.NOTIFIED, actor, now, **details)


async def notify_all(
    notices: Notices,
    complaint: Complaint,
    recipients: Iterable[Staff],
    notice: StaffNotice,
    *,
    step: str,
    now: datetime,
    actor: Actor = SYSTEM,
    **values: Any,
) -> list[ComplaintEvent]:
    return [
        await notify_staff(notices, complaint, staff, notice, step=step, now=now, actor=actor, **values)
        for staff in recipients
    ]


async def notify_customer(
    notices: Notices, complaint: Complaint, template: str, *, step: str, now: datetime, **values: Any
) -> Outbox:
    """Queue an update to the customer who filed the complaint (service notice, so template-able)."""
    text, data = await notices.render(f"complaint/{template}", complaint, **values)
    return await outbox.enqueue(
        openid=complaint.openid,
        text=text,
        category=MessageCategory.SERVICE,
        dedup_key=f"complaint:{complaint.id}:{step}:customer",
        now=now,
        template_name=CUSTOMER_TEMPLATE,
        template_data=data,
    )


async def store_staff(store_id: int | None, roles: Iterable[Role]) -> list[Staff]:
    """Active staff of the store in `roles`; none when the complaint has no store."""
    if store_id is None:
        return []
    return await Staff.filter(store_id=store_id, role__in=list(roles), active=True).order_by("id")


async def general_managers() -> list[Staff]:
    return await Staff.filter(role=Role.GM, active=True).order_by("id")


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_LENGTH else flat[: SUMMARY_LENGTH - 1] + "…"
