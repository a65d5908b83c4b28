"""Work orders: opened for a plate by the DMS or staff, moved through the stages, given an ETA and
增项, settled with an invoice; read with their stage timeline, 增项 answers and settlement.

Every rule is the work-order services' (bot.services.workorders); this module validates the
request, applies the caller's scope (admin.access: advisors their customers' orders, store staff
their store's, the DMS all) and turns refusals into the API's errors. Each change is recorded
with its author: the DMS for an API key, the staff member for a staff token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema

from admin.access import Permission
from admin.api import rules
from admin.api.errors import Conflict, Invalid, NotFound
from admin.api.principal import Principal
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    ById,
    Id,
    Kilometres,
    Page,
    Paging,
    Plate,
    QueryId,
    RequestModel,
    ResponseModel,
    paginate,
)
from bot.models import (
    ChangeSource,
    ExtraItem,
    ExtraItemStatus,
    Role,
    Settlement,
    Staff,
    StageChange,
    Store,
    WorkOrder,
    WorkStage,
)
from bot.services.customer_notices import Notifier
from bot.services.workorders import extras, orders, settlement
from bot.services.workorders.errors import (
    InvalidStageChange,
    InvalidValue,
    VehicleNotFound,
    WorkOrderError,
    WorkOrderNotFound,
)
from bot.services.workorders.orders import DMS, Author, allowed_next

routes = Routes("work orders")

VIEW = rules.permitted(Permission.VIEW_WORKSHOP)
HANDLE = rules.permitted(Permission.HANDLE_WORKSHOP)
SETTLE = rules.permitted(Permission.SETTLE_WORK_ORDERS)
# Sensible bounds for times the DMS sends (the database and time zones cope with no more).
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _stage(value: object) -> object:
    """A stage by code ("ready") or by its Chinese name ("待交车"), as the DMS may send either."""
    if isinstance(value, str):
        try:
            return WorkStage.parse(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return value


StageName = Annotated[
    WorkStage,
    BeforeValidator(_stage),
    WithJsonSchema(
        {
            "type": "string",
            "enum": [s.value for s in WorkStage] + [s.label for s in WorkStage],
            "description": "A stage by code or by its Chinese name: "
            + ", ".join(f"{s.value} ({s.label})" for s in WorkStage),
        }
    ),
]
Money = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,8}(\.[0-9]{1,2})?$"),
    Field(description="Yuan, at most two decimals, as a string.", examples=["480.00"]),
]
Yuan = Annotated[Decimal, PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str)]
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$")]
Invoice = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
# printable, not blank: the service collapses whitespace and needs 1..200 characters left
Description = Annotated[
    str,
    StringConstraints(
        max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ),
]


class WorkOrderIn(RequestModel):
    plate: Plate = Field(description="The car that arrived; it must be on record (upsert it first).")
    number: Reference | None = Field(
        None, description="The DMS's work order number: sending it again returns the same order."
    )
    store_id: Id | None = Field(None, description="Default: the vehicle's store.")
    advisor_id: Id | None = Field(None, description="An active advisor; default: the customer's.")
    eta: AwareDatetime | None = Field(None, description="When the car should be ready.")
    mileage_km: Kilometres | None = None


class StageIn(RequestModel):
    stage: StageName
    at: AwareDatetime | None = Field(
        None,
        description="When it happened in the workshop (default: now); not before the current stage began.",
    )


class EtaIn(RequestModel):
    eta: AwareDatetime


class ExtraItemIn(RequestModel):
    description: Description = Field(examples=["前刹车片剩余2mm，建议更换"])
    parts_price: Money
    labour_price: Money
    external_ref: Reference | None = Field(
        None, description="The DMS's reference for the item: sending it again returns the same item."
    )


class SettlementIn(RequestModel):
    invoice_no: Invoice = Field(description="Settling again with the same invoice records nothing new.")
    amount: Money
    mileage_km: Kilometres | None = None


class StageChangeOut(ResponseModel):
    from_stage: WorkStage | None
    to_stage: WorkStage
    at: datetime
    source: ChangeSource
    staff_id: int | None = Field(description="The staff member who made the change; null for the DMS.")


class ExtraItemOut(ResponseModel):
    id: int
    work_order_id: int
    external_ref: str | None
    description: str
    parts_price: Yuan
    labour_price: Yuan
    total: Yuan
    status: ExtraItemStatus
    added_at: datetime
    source: ChangeSource
    staff_id: int | None
    answered_at: datetime | None = Field(description="When the customer answered in chat.")


class SettlementOut(ResponseModel):
    id: int
    work_order_id: int
    invoice_no: str
    amount: Yuan
    mileage_km: int | None
    settled_at: datetime


class WorkOrderOut(ResponseModel):
    id: int
    number: str
    plate: str
    vehicle_id: int
    customer_id: int
    store_id: int | None
    advisor_id: int | None
    appointment_id: int | None = Field(description="The booking this visit fulfilled, if any.")
    stage: WorkStage
    stage_label: str
    stage_since: datetime
    next_stages: list[WorkStage] = Field(description="The stages it may move to now.")
    eta: datetime | None
    mileage_km: int | None
    opened_at: datetime
    closed_at: datetime | None


class WorkOrderDetail(WorkOrderOut):
    timeline: list[StageChangeOut]
    extra_items: list[ExtraItemOut]
    settlement: SettlementOut | None


class WorkOrderFilter(Paging):
    store_id: QueryId | None = None
    advisor_id: QueryId | None = None
    stage: WorkStage | None = None
    plate: Plate | None = None
    open: bool | None = Field(None, description="true: not yet delivered; false: delivered.")


def _author(principal: Principal) -> Author:
    return DMS if principal.staff is None else Author.staff(principal.staff.id)


def _notifier(call: Call) -> Notifier:
    return Notifier.from_settings(call.settings)


@contextmanager
def _refusals(field: str) -> Iterator[None]:
    """The service's refusals as API errors, with its own message; `field` is the input blamed."""
    try:
        yield
    except (WorkOrderNotFound, VehicleNotFound) as exc:
        raise NotFound(str(exc)) from None
    except (InvalidStageChange, InvalidValue) as exc:
        raise Invalid(str(exc), {field: str(exc)}) from None
    except WorkOrderError as exc:  # in the workshop already, number or invoice taken, delivered
        raise Conflict(str(exc)) from None


def _moment(value: datetime | None, field: str, *, not_before: datetime | None = None) -> None:
    if value is None:
        return
    if not EARLIEST <= value < LATEST:
        raise Invalid("The time is out of range.", {field: "must be between 2000 and 2100"})
    if not_before is not None and value < not_before:
        raise Invalid("The time is too early.", {field: f"must not be before {not_before.isoformat()}"})


async def _order(call: Call, order_id: int) -> WorkOrder:
    return await rules.one(rules.work_orders(call.principal), order_id, "No such work order.")


async def _detail(order_id: int) -> dict[str, Any]:
    order = await WorkOrder.get(id=order_id).prefetch_related("vehicle")
    return {
        **_out(order),
        "timeline": await StageChange.filter(work_order_id=order.id).order_by("at", "id"),
        "extra_items": [
            _item_out(item)
            for item in await ExtraItem.filter(work_order_id=order.id).order_by("added_at", "id")
        ],
        "settlement": await Settlement.get_or_none(work_order_id=order.id),
    }


def _out(order: WorkOrder) -> dict[str, Any]:
    fields = WorkOrderOut.model_fields.keys() - {"plate", "stage_label", "next_stages"}
    return {
        **{name: getattr(order, name) for name in fields},
        "plate": order.vehicle.plate,
        "stage_label": order.stage.label,
        "next_stages": list(allowed_next(order.stage)),
    }


def _item_out(item: ExtraItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in ExtraItemOut.model_fields}


@routes.route(
    "POST",
    "/work-orders",
    access=HANDLE,
    body=WorkOrderIn,
    response=WorkOrderDetail,
    statuses=(201, 200),
    errors=(404, 409),
)
async def create_work_order(call: Call, body: WorkOrderIn) -> Reply:
    """Open a work order for a car that arrived (已接车).

    201 when opened, 200 when `number` was sent before (the same order comes back). A booking
    of the car for today is marked fulfilled. 404 when the plate is not on record (or not the
    caller's to see); 409 when the car already has an open work order or the number belongs to
    another car.
    """
    principal = call.principal
    if not await rules.vehicles(principal).filter(plate=body.plate).exists():
        raise NotFound("No vehicle with this plate.", {"plate": "not on record"})
    if body.store_id is not None and not await Store.exists(id=body.store_id):
        raise Invalid("No such store.", {"store_id": "no such store"})
    if body.advisor_id is not None and not await Staff.exists(
        id=body.advisor_id, role=Role.ADVISOR, active=True
    ):
        raise Invalid("No such active advisor.", {"advisor_id": "no such active advisor"})
    _moment(body.eta, "eta", not_before=call.now)
    with _refusals("plate"):
        opened = await orders.open_for_plate(
            body.plate,
            author=_author(principal),
            now=call.now,
            tz=call.settings.tz,
            number=body.number,
            store_id=body.store_id,
            advisor_id=body.advisor_id,
            eta=body.eta,
            mileage_km=body.mileage_km,
        )
    return Reply(await _detail(opened.order.id), 201 if opened.created else 200)


@routes.route("GET", "/work-orders", access=VIEW, query=WorkOrderFilter, response=Page[WorkOrderOut])
async def list_work_orders(call: Call, query: WorkOrderFilter) -> dict[str, Any]:
    """List work orders, newest first."""
    found = rules.work_orders(call.principal).filter(**query.lookups("plate", "open"))
    if query.plate is not None:
        found = found.filter(vehicle__plate=query.plate)
    if query.open is not None:
        found = found.filter(closed_at__isnull=query.open)
    return await paginate(found.order_by("-opened_at", "-id").prefetch_related("vehicle"), query, _out)


@routes.route("GET", "/work-orders/{id}", access=VIEW, path_params=ById, response=WorkOrderDetail)
async def get_work_order(call: Call, path: ById) -> dict[str, Any]:
    """Read a work order with its stage timeline, 增项 (with the customer's answers) and settlement."""
    return await _detail((await _order(call, path.id)).id)


@routes.route(
    "POST",
    "/work-orders/{id}/stage",
    access=HANDLE,
    path_params=ById,
    body=StageIn,
    response=WorkOrderDetail,
    errors=(409,),
)
async def change_work_order_stage(call: Call, path: ById, body: StageIn) -> dict[str, Any]:
    """Move a work order to another stage.

    Stages only move forward, one at a time, except that 待料 and 洗车中 may be passed by; any
    other move is refused with 422 and says which stages may come next. Sending the stage the
    order is at changes nothing. Reaching 待交车 tells the customer once. 409 when delivered.
    """
    order = await _order(call, path.id)
    _moment(body.at, "at", not_before=order.stage_since)
    if body.at is not None and body.at > call.now:
        raise Invalid("The time is in the future.", {"at": "must not be in the future"})
    with _refusals("stage"):
        await orders.change_stage(
            order.id,
            body.stage,
            author=_author(call.principal),
            now=body.at or call.now,
            notifier=_notifier(call),
        )
    return await _detail(order.id)


@routes.route(
    "POST",
    "/work-orders/{id}/eta",
    access=HANDLE,
    path_params=ById,
    body=EtaIn,
    response=WorkOrderDetail,
    errors=(409,),
)
async def set_work_order_eta(call: Call, path: ById, body: EtaIn) -> dict[str, Any]:
    """Set when the car should be ready (what the customer is told when asking for progress).

    422 when before the car arrived; 409 when delivered.
    """
    order = await _order(call, path.id)
    _moment(body.eta, "eta", not_before=order.opened_at)
    with _refusals("eta"):
        await orders.set_eta(order.id, body.eta)
    return await _detail(order.id)


@routes.route(
    "POST",
    "/work-orders/{id}/extra-items",
    access=HANDLE,
    path_params=ById,
    body=ExtraItemIn,
    response=ExtraItemOut,
    statuses=(201, 200),
    errors=(409,),
)
async def add_work_order_extra_item(call: Call, path: ById, body: ExtraItemIn) -> Reply:
    """Add extra work found (增项); the customer is asked to approve it in chat.

    201 when added, 200 when `external_ref` was sent before (the same item comes back). The
    customer's answer and its time appear on the item. 409 when the order is delivered.
    """
    order = await _order(call, path.id)
    again = body.external_ref is not None and await ExtraItem.exists(
        work_order_id=order.id, external_ref=body.external_ref
    )
    with _refusals("description"):
        item = await extras.add_extra_item(
            order.id,
            description=body.description,
            parts_price=body.parts_price,
            labour_price=body.labour_price,
            author=_author(call.principal),
            now=call.now,
            notifier=_notifier(call),
            external_ref=body.external_ref,
        )
    return Reply(_item_out(item), 200 if again else 201)


@routes.route(
    "POST",
    "/work-orders/{id}/settlement",
    access=SETTLE,
    path_params=ById,
    body=SettlementIn,
    response=SettlementOut,
    statuses=(201, 200),
    errors=(409,),
)
async def settle_work_order(call: Call, path: ById, body: SettlementIn) -> Reply:
    """Record the paid invoice that closes the work order's bill.

    Idempotent by invoice number: the same invoice again is 200 with the settlement recorded
    first, and nothing new. The vehicle's last service date and mileage are updated, and the
    amount is kept for the points ledger. 409 when the invoice settles another order, or the
    order was settled with another invoice.
    """
    order = await _order(call, path.id)
    with _refusals("invoice_no"):
        settled = await settlement.settle(
            order.id,
            invoice_no=body.invoice_no,
            amount=body.amount,
            now=call.now,
            tz=call.settings.tz,
            mileage_km=body.mileage_km,
        )
    return Reply(settled.settlement, 201 if settled.created else 200)
