"""Complaints (投诉): the complaint itself, its append-only audit trail, its photos, per-store SLAs.

The SLA clock lives in the row, not in a timer: each cycle (the first one, then one per reopen)
stores its own deadlines, its warning flag and its escalation level, so the `escalate-complaints`
job can claim each step with a conditional update and a restart loses nothing. `cycle` is part
of every notification's dedup key, so a reopened complaint escalates afresh without colliding
with the notices of the cycle before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class ComplaintStatus(StrEnum):
    OPEN = "open"  # waiting for the first response
    IN_PROGRESS = "in_progress"  # responded to (or reopened), not resolved
    RESOLVED = "resolved"  # resolved, waiting for the customer's satisfaction score
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Still on the SLA clock: may be warned about and escalated."""
        return self in OPEN_STATUSES


OPEN_STATUSES = (ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS)


class ComplaintCategory(StrEnum):
    """The dealer's complaint categories (SPEC §5); the labels are their names, not reply wording."""

    SERVICE_ATTITUDE = "service_attitude"
    REPAIR_QUALITY = "repair_quality"
    PRICING = "pricing"
    WAITING_TIME = "waiting_time"
    PARTS = "parts"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    ComplaintCategory.SERVICE_ATTITUDE: "服务态度",
    ComplaintCategory.REPAIR_QUALITY: "维修质量",
    ComplaintCategory.PRICING: "价格收费",
    ComplaintCategory.WAITING_TIME: "等待时间",
    ComplaintCategory.PARTS: "配件",
    ComplaintCategory.OTHER: "其他",
}


class ComplaintCause(StrEnum):
    """What the complaint turned out to be caused by, chosen when it is resolved."""

    STAFF_CONDUCT = "staff_conduct"
    WORKMANSHIP = "workmanship"
    PARTS_SUPPLY = "parts_supply"
    PRICING = "pricing"
    PROCESS = "process"
    CUSTOMER_EXPECTATION = "customer_expectation"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CAUSE_LABELS[self]


CAUSE_LABELS = {
    ComplaintCause.STAFF_CONDUCT: "人员服务",
    ComplaintCause.WORKMANSHIP: "维修工艺",
    ComplaintCause.PARTS_SUPPLY: "配件质量/供应",
    ComplaintCause.PRICING: "收费争议",
    ComplaintCause.PROCESS: "流程与等待",
    ComplaintCause.CUSTOMER_EXPECTATION: "客户期望/误解",
    ComplaintCause.OTHER: "其他",
}


class EventKind(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    NOTIFIED = "notified"
    RESPONDED = "responded"
    NOTED = "noted"
    WARNED = "warned"
    ESCALATED = "escalated"
    REASSIGNED = "reassigned"
    RESOLVED = "resolved"
    SURVEYED = "surveyed"
    REOPENED = "reopened"
    CLOSED = "closed"
    CUSTOMER_ADDED = "customer_added"


class ActorKind(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"
    SYSTEM = "system"


class Complaint(Model):
    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=20, unique=True)  # C20261123-0007, the day in local time
    store: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Store", related_name="complaints", null=True, on_delete=fields.SET_NULL
    )
    customer: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Customer", related_name="complaints", null=True, on_delete=fields.SET_NULL
    )
    openid = fields.CharField(max_length=64)  # where answers to the customer go
    phone = fields.CharField(max_length=20, default="")
    category = fields.CharEnumField(ComplaintCategory, max_length=32)
    description = fields.TextField()  # verbatim, as the customer wrote it: pages must escape it
    related_kind = fields.CharField(max_length=32, null=True)  # work_order / appointment
    related_id = fields.IntField(null=True)
    related_label = fields.CharField(max_length=100, default="")
    intake_key = fields.CharField(max_length=128, unique=True)  # the confirming message: retries create once
    status = fields.CharEnumField(ComplaintStatus, max_length=16, default=ComplaintStatus.OPEN)
    assignee: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="complaints", null=True, on_delete=fields.SET_NULL
    )
    assigned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    store_id: int | None
    customer_id: int | None
    assignee_id: int | None

    # the SLA clock of the current cycle
    cycle = fields.IntField(default=1)
    cycle_started_at = fields.DatetimeField()
    response_due_at = fields.DatetimeField()
    due_at = fields.DatetimeField()  # resolution due; escalation level 1 when passed
    warn_at = fields.DatetimeField()
    level2_at = fields.DatetimeField()
    warned = fields.BooleanField(default=False)
    escalation_level = fields.SmallIntField(default=0)

    first_response_at = fields.DatetimeField(null=True)
    first_resolved_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolution = fields.TextField(default="")
    cause = fields.CharEnumField(ComplaintCause, max_length=32, null=True)
    autoclose_at = fields.DatetimeField(null=True)  # resolved and not surveyed by then: closed
    survey_score = fields.SmallIntField(null=True)
    surveyed_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "complaint"
        ordering = ["-created_at", "-id"]
        indexes = (
            ("status", "warn_at"),
            ("status", "due_at"),
            ("status", "level2_at"),
            ("status", "autoclose_at"),
            ("assignee_id", "status"),
            ("store_id", "status"),
            ("openid", "status"),
        )

    def __str__(self) -> str:
        return self.number


class AppendOnlyError(RuntimeError):
    """An audit event was about to be changed or deleted; the trail only grows."""


class ComplaintEvent(Model):
    """One entry of a complaint's audit trail: what happened, who did it, when, with details."""

    id = fields.BigIntField(primary_key=True)
    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=24)
    cycle = fields.IntField()
    actor_kind = fields.CharEnumField(ActorKind, max_length=16)
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="complaint_events", null=True, on_delete=fields.SET_NULL
    )
    actor_name = fields.CharField(max_length=50, default="")  # kept if the staff record goes
    at = fields.DatetimeField()
    details: dict[str, Any] = fields.JSONField(default=dict)  # type: ignore[assignment]
    source_key = fields.CharField(max_length=128, unique=True, null=True)  # a customer's message, once
    complaint_id: int
    actor_id: int | None

    class Meta:
        table = "complaint_event"
        ordering = ["at", "id"]
        indexes = (("complaint_id", "at"), ("kind", "at"))

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self._saved_in_db:
            raise AppendOnlyError(f"complaint event {self.id} cannot be changed")
        await super().save(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError(f"complaint event {self.id} cannot be deleted")


class ComplaintPhoto(Model):
    """A photo the customer sent. WeChat keeps media 3 days, so the file is fetched into storage.

    `fetched_at` null means not stored yet; the fetch is claimed with `locked_until` and retried
    with backoff until it succeeds or WeChat's copy has expired (`gave_up_at`).
    """

    id = fields.IntField(primary_key=True)
    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="photos", on_delete=fields.CASCADE
    )
    media_id = fields.CharField(max_length=128)
    picture_url = fields.CharField(max_length=500, default="")
    received_at = fields.DatetimeField()
    path = fields.CharField(max_length=255, null=True)  # relative to the media folder
    size = fields.IntField(null=True)
    fetched_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    locked_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    gave_up_at = fields.DatetimeField(null=True)
    complaint_id: int

    class Meta:
        table = "complaint_photo"
        ordering = ["received_at", "id"]
        unique_together = (("complaint_id", "media_id"),)
        indexes = (("fetched_at", "next_attempt_at"),)


class ComplaintPolicy(Model):
    """A store's complaint deadlines; a store without a row uses the defaults (2 h / 24 h / 48 h)."""

    id = fields.IntField(primary_key=True)
    store: fields.OneToOneRelation = fields.OneToOneField(
        "models.Store", related_name="complaint_policy", on_delete=fields.CASCADE
    )
    response_hours = fields.IntField(default=2)
    resolution_hours = fields.IntField(default=24)
    warning_hours = fields.IntField(default=2)  # before the resolution deadline
    level2_hours = fields.IntField(default=48)  # from the cycle's start
    survey_days = fields.IntField(default=3)  # a resolved complaint not surveyed closes after this
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "complaint_policy"
