"""Work orders (维修工单): a car's visit to the workshop, its stages, extra work (增项) and settlement.

Every stage change is a row (`StageChange`), so the customer's timeline and the advisor's audit
come from the same record. A settlement is unique by invoice number and leaves a durable
`SettledAmountEvent` that the points ledger consumes later (`consumed_at`), so no points are lost
to a crash between settling and awarding.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class WorkStage(StrEnum):
    """The fixed stages, in order. 待料 and 洗车中 are optional: a car may pass them by."""

    RECEIVED = "received"
    DIAGNOSING = "diagnosing"
    AWAITING_PARTS = "awaiting_parts"
    REPAIRING = "repairing"
    QUALITY_CHECK = "quality_check"
    WASHING = "washing"
    READY = "ready"
    DELIVERED = "delivered"

    @property
    def label(self) -> str:
        return _STAGE_LABELS[self]

    @property
    def position(self) -> int:
        return _STAGE_ORDER.index(self)

    @property
    def optional(self) -> bool:
        return self in (WorkStage.AWAITING_PARTS, WorkStage.WASHING)

    @classmethod
    def parse(cls, value: str) -> WorkStage:
        """A stage by code ("ready") or by its Chinese name ("待交车"), as the DMS may send either."""
        value = value.strip()
        for stage in cls:
            if value in (stage.value, stage.label):
                return stage
        raise ValueError(f"unknown work stage {value!r}; expected one of {', '.join(s.label for s in cls)}")


_STAGE_ORDER = list(WorkStage)
_STAGE_LABELS = {
    WorkStage.RECEIVED: "已接车",
    WorkStage.DIAGNOSING: "诊断中",
    WorkStage.AWAITING_PARTS: "待料",
    WorkStage.REPAIRING: "维修中",
    WorkStage.QUALITY_CHECK: "质检中",
    WorkStage.WASHING: "洗车中",
    WorkStage.READY: "待交车",
    WorkStage.DELIVERED: "已交车",
}


class ChangeSource(StrEnum):
    DMS = "dms"
    STAFF = "staff"


class WorkOrder(Model):
    """One visit of one vehicle. `open_vehicle_id` equals the vehicle's id while the order is open
    and is cleared on delivery: its unique constraint allows one open order per vehicle."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True, null=True)  # the DMS's, or W<date>-<id>
    vehicle: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Vehicle", related_name="work_orders", on_delete=fields.RESTRICT
    )
    customer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Customer", related_name="work_orders", on_delete=fields.RESTRICT
    )
    store: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Store", related_name="work_orders", null=True, on_delete=fields.SET_NULL
    )
    advisor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="work_orders", null=True, on_delete=fields.SET_NULL
    )
    appointment: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Appointment", related_name="work_orders", null=True, on_delete=fields.SET_NULL
    )
    open_vehicle_id = fields.IntField(null=True, unique=True)
    stage = fields.CharEnumField(WorkStage, max_length=16, default=WorkStage.RECEIVED)
    stage_since = fields.DatetimeField()
    eta = fields.DatetimeField(null=True)
    mileage_km = fields.IntField(null=True)
    opened_at = fields.DatetimeField(db_index=True)
    closed_at = fields.DatetimeField(null=True)
    ready_notified_at = fields.DatetimeField(null=True)

    changes: fields.ReverseRelation[StageChange]
    extra_items: fields.ReverseRelation[ExtraItem]

    class Meta:
        table = "work_order"
        ordering = ["-opened_at", "-id"]


class StageChange(Model):
    """One move of a work order; `from_stage` is None for the opening (已接车)."""

    id = fields.IntField(primary_key=True)
    work_order: fields.ForeignKeyRelation[WorkOrder] = fields.ForeignKeyField(
        "models.WorkOrder", related_name="changes", on_delete=fields.CASCADE
    )
    from_stage = fields.CharEnumField(WorkStage, max_length=16, null=True)
    to_stage = fields.CharEnumField(WorkStage, max_length=16)
    at = fields.DatetimeField()
    source = fields.CharEnumField(ChangeSource, max_length=8)
    staff: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="stage_changes", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "stage_change"
        ordering = ["at", "id"]


class ExtraItemStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class ExtraItem(Model):
    """Extra work found in the workshop (增项), waiting for the customer's yes or no in chat.

    `external_ref` (per work order) makes a DMS's retried 'add' create one item, not two.
    """

    id = fields.IntField(primary_key=True)
    work_order: fields.ForeignKeyRelation[WorkOrder] = fields.ForeignKeyField(
        "models.WorkOrder", related_name="extra_items", on_delete=fields.CASCADE
    )
    external_ref = fields.CharField(max_length=64, null=True)
    description = fields.CharField(max_length=200)
    parts_price = fields.DecimalField(max_digits=10, decimal_places=2)
    labour_price = fields.DecimalField(max_digits=10, decimal_places=2)
    status = fields.CharEnumField(ExtraItemStatus, max_length=16, default=ExtraItemStatus.PENDING)
    added_at = fields.DatetimeField()
    source = fields.CharEnumField(ChangeSource, max_length=8)
    staff: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="extra_items", null=True, on_delete=fields.SET_NULL
    )
    answered_at = fields.DatetimeField(null=True)
    answered_by = fields.CharField(max_length=64, null=True)  # the openid that answered

    class Meta:
        table = "extra_item"
        ordering = ["added_at", "id"]
        unique_together = (("work_order", "external_ref"),)

    @property
    def total(self) -> Decimal:
        return Decimal(self.parts_price) + Decimal(self.labour_price)


class Settlement(Model):
    """The invoice that closed a work order's bill; one per order, one per invoice number."""

    id = fields.IntField(primary_key=True)
    invoice_no = fields.CharField(max_length=64, unique=True)
    work_order: fields.OneToOneRelation[WorkOrder] = fields.OneToOneField(
        "models.WorkOrder", related_name="settlement", on_delete=fields.RESTRICT
    )
    amount = fields.DecimalField(max_digits=12, decimal_places=2)
    mileage_km = fields.IntField(null=True)
    settled_at = fields.DatetimeField()

    class Meta:
        table = "settlement"


class SettledAmountEvent(Model):
    """Money a customer spent, waiting for the points ledger (`consumed_at` set when it has)."""

    id = fields.IntField(primary_key=True)
    settlement: fields.OneToOneRelation[Settlement] = fields.OneToOneField(
        "models.Settlement", related_name="amount_event", on_delete=fields.RESTRICT
    )
    customer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Customer", related_name="settled_amounts", on_delete=fields.RESTRICT
    )
    work_order: fields.ForeignKeyRelation[WorkOrder] = fields.ForeignKeyField(
        "models.WorkOrder", related_name="settled_amounts", on_delete=fields.RESTRICT
    )
    amount = fields.DecimalField(max_digits=12, decimal_places=2)
    created_at = fields.DatetimeField()
    consumed_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "settled_amount_event"
        ordering = ["id"]
