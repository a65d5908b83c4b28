"""Work orders: opened for a plate, moved through the fixed stages, extra work (增项), settlement.

The DMS (API or import) and advisors (admin pages) call these functions; chat reads progress and
answers 增项 through them. Every rule lives here:

- Stages only move forward, one at a time, except that the optional stages 待料 and 洗车中 may be
  passed by (诊断中 -> 维修中, 质检中 -> 待交车). There is no way back: a car that fails 质检 is
  reworked within 质检中 and the timeline stays truthful. Setting the stage it is already at
  changes nothing (the DMS retries), anything else is refused with `InvalidStageChange`.
- Opening a work order (已接车) for a car booked today marks the booking fulfilled.
- 待交车 is announced to the customer once per work order: `ready_notified_at` is claimed with a
  conditional update, and the outbox dedup key backs it up.
- Settling is idempotent by invoice number and leaves a durable `SettledAmountEvent` for points.
- A customer only ever reaches their own vehicles' orders and items: every customer-facing
  function filters by `customer_id`, so a plate or id of someone else's car finds nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import ClassVar
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.conversation.validators import mask_plate, parse_plate
from bot.models import (
    ChangeSource,
    ExtraItem,
    ExtraItemStatus,
    SettledAmountEvent,
    Settlement,
    StageChange,
    Vehicle,
    WorkOrder,
    WorkStage,
)
from bot.services.booking.appointments import fulfil_on_arrival
from bot.services.customer_notices import Notice, Notifier

log = logging.getLogger(__name__)

READY_TEMPLATE = "workorder_ready"
EXTRA_ITEM_TEMPLATE = "extra_item"
CENT = Decimal("0.01")


class WorkOrderError(Exception):
    code: ClassVar[str] = "work_order_error"


class VehicleNotFound(WorkOrderError):
    code = "vehicle_not_found"


class VehicleInWorkshop(WorkOrderError):
    code = "vehicle_in_workshop"


class NumberTaken(WorkOrderError):
    code = "number_taken"


class WorkOrderNotFound(WorkOrderError):
    code = "work_order_not_found"


class WorkOrderClosed(WorkOrderError):
    code = "work_order_closed"


class InvalidStageChange(WorkOrderError):
    code = "invalid_stage_change"


class ExtraItemNotFound(WorkOrderError):
    code = "extra_item_not_found"


class ExtraItemAnswered(WorkOrderError):
    code = "extra_item_answered"


class InvalidValue(WorkOrderError):
    code = "invalid_value"


class InvoiceConflict(WorkOrderError):
    code = "invoice_conflict"


@dataclass(frozen=True)
class Author:
    """Who made a change: the DMS, or a staff member (by id)."""

    source: ChangeSource
    staff_id: int | None = None

    @classmethod
    def staff(cls, staff_id: int) -> Author:
        return cls(ChangeSource.STAFF, staff_id)


DMS = Author(ChangeSource.DMS)


@dataclass(frozen=True)
class Opened:
    order: WorkOrder
    created: bool  # False: the DMS sent the same work order number again


@dataclass(frozen=True)
class StageMoved:
    order: WorkOrder
    changed: bool  # False: it was at that stage already


@dataclass(frozen=True)
class Settled:
    settlement: Settlement
    created: bool  # False: this invoice had been recorded already


@dataclass(frozen=True)
class VehicleProgress:
    """What the customer sees for one vehicle: its open order (None: not in the workshop)."""

    vehicle: Vehicle
    order: WorkOrder | None
    timeline: list[StageChange]
    pending: list[ExtraItem]


def allowed_next(stage: WorkStage) -> tuple[WorkStage, ...]:
    """The next stage, or any optional ones on the way to it."""
    allowed: list[WorkStage] = []
    for later in list(WorkStage)[stage.position + 1 :]:
        allowed.append(later)
        if not later.optional:
            break
    return tuple(allowed)


async def open_for_plate(
    plate: str,
    *,
    author: Author,
    now: datetime,
    tz: ZoneInfo,
    number: str | None = None,
    store_id: int | None = None,
    advisor_id: int | None = None,
    eta: datetime | None = None,
    mileage_km: int | None = None,
) -> Opened:
    """The car arrived (已接车): open its work order, linked to its owner, store and advisor.

    `number` is the DMS's work order number; sending it again returns the order already opened.
    Without it a number W<date>-<id> is given. A car with an open order cannot get a second one.
    """
    canonical = parse_plate(plate)
    if canonical is None:
        raise VehicleNotFound(f"{plate!r} is not a plate number")
    if number is not None:
        again = await _same_number(number, canonical)
        if again is not None:
            return Opened(again, created=False)
    vehicle = await Vehicle.get_or_none(plate=canonical).prefetch_related("customer")
    if vehicle is None:
        raise VehicleNotFound(f"no vehicle {mask_plate(canonical)} on record")
    _check_eta(eta, now)
    try:
        async with in_transaction():
            order = await WorkOrder.create(
                number=number,
                vehicle=vehicle,
                customer_id=vehicle.customer.id,
                store_id=store_id or vehicle.store_id,  # type: ignore[attr-defined]
                advisor_id=advisor_id or vehicle.customer.advisor_id,
                open_vehicle_id=vehicle.id,
                stage=WorkStage.RECEIVED,
                stage_since=now,
                eta=eta,
                mileage_km=mileage_km,
                opened_at=now,
            )
            await _record_change(order, None, WorkStage.RECEIVED, author, now)
            booking = await fulfil_on_arrival(vehicle.id, now.astimezone(tz).date(), now=now)
            order.number = number or f"W{now.astimezone(tz):%Y%m%d}-{order.id:04d}"
            order.appointment_id = booking.id if booking else None  # type: ignore[attr-defined]
            await order.save(update_fields=["number", "appointment_id"])
    except IntegrityError:
        again = await _same_number(number, canonical) if number is not None else None
        if again is not None:
            return Opened(again, created=False)
        already = await WorkOrder.get_or_none(open_vehicle_id=vehicle.id)
        if already is None:
            raise
        raise VehicleInWorkshop(
            f"{mask_plate(canonical)} is already in the workshop (work order {already.number})"
        ) from None
    log.info("work order opened", extra={"work_order": order.number, "plate": mask_plate(canonical)})
    return Opened(order, created=True)


async def change_stage(
    order_id: int, to: WorkStage, *, author: Author, now: datetime, notifier: Notifier
) -> StageMoved:
    """Move the order to `to` if the stage rules allow it from where it is; 待交车 is announced once."""
    for _ in range(3):  # another change may slip in between reading and moving: look again
        order = await get(order_id)
        if order.stage is to:
            return StageMoved(order, changed=False)
        if order.stage is WorkStage.DELIVERED:
            raise WorkOrderClosed(f"work order {order.number} is delivered ({WorkStage.DELIVERED.label})")
        if to not in allowed_next(order.stage):
            allowed = "/".join(f"{s.value} ({s.label})" for s in allowed_next(order.stage))
            raise InvalidStageChange(
                f"work order {order.number} cannot move from {order.stage.value} ({order.stage.label}) "
                f"to {to.value} ({to.label}); next: {allowed}"
            )
        if await _move(order, to, author=author, now=now, notifier=notifier):
            log.info("work order moved", extra={"work_order": order.number, "stage": to.value})
            return StageMoved(await get(order_id), changed=True)
    raise InvalidStageChange(f"work order {order_id} is being changed by someone else; try again")


async def set_eta(order_id: int, eta: datetime) -> WorkOrder:
    """When the car should be ready, as the customer will be told."""
    order = await open_order(order_id)
    _check_eta(eta, order.opened_at)
    await WorkOrder.filter(id=order.id).update(eta=eta)
    return await get(order_id)


async def add_extra_item(
    order_id: int,
    *,
    description: str,
    parts_price: Decimal | str,
    labour_price: Decimal | str,
    author: Author,
    now: datetime,
    notifier: Notifier,
    external_ref: str | None = None,
) -> ExtraItem:
    """Record extra work found (增项) and ask the customer in chat; `external_ref` makes a retry a no-op."""
    description = " ".join(description.split())
    if not 0 < len(description) <= 200:
        raise InvalidValue("the description must be 1 to 200 characters")
    parts, labour = _money(parts_price, "parts price"), _money(labour_price, "labour price")
    order = await open_order(order_id)
    if external_ref is not None:
        again = await ExtraItem.get_or_none(work_order_id=order.id, external_ref=external_ref)
        if again is not None:
            return again
    try:
        async with in_transaction():
            item = await ExtraItem.create(
                work_order=order,
                external_ref=external_ref,
                description=description,
                parts_price=parts,
                labour_price=labour,
                added_at=now,
                source=author.source,
                staff_id=author.staff_id,
            )
            await _ask_customer(order, item, now=now, notifier=notifier)
    except IntegrityError:
        again = await ExtraItem.get_or_none(work_order_id=order.id, external_ref=external_ref)
        if external_ref is None or again is None:
            raise
        return again
    log.info("extra item added", extra={"work_order": order.number, "extra_item": item.id})
    return item


async def answer_extra_item(
    item_id: int, *, customer_id: int, approve: bool, openid: str, now: datetime
) -> ExtraItem:
    """The customer's yes or no, with its time; the same answer twice is fine, a change of mind is not."""
    item = await ExtraItem.filter(id=item_id, work_order__customer_id=customer_id).first()
    if item is None:
        raise ExtraItemNotFound(f"no extra item {item_id} for this customer")
    status = ExtraItemStatus.APPROVED if approve else ExtraItemStatus.DECLINED
    answered = await ExtraItem.filter(id=item.id, status=ExtraItemStatus.PENDING).update(
        status=status, answered_at=now, answered_by=openid
    )
    item = await ExtraItem.get(id=item.id)
    if not answered and item.status is not status:
        raise ExtraItemAnswered(f"extra item {item.id} was {item.status.value} already")
    return item


async def pending_extra_items(
    *, customer_id: int | None = None, advisor_id: int | None = None, order_id: int | None = None
) -> list[ExtraItem]:
    """Items still waiting for the customer's answer: a customer's, an advisor's, or one order's."""
    query = ExtraItem.filter(status=ExtraItemStatus.PENDING)
    if customer_id is not None:
        query = query.filter(work_order__customer_id=customer_id)
    if advisor_id is not None:
        query = query.filter(work_order__advisor_id=advisor_id)
    if order_id is not None:
        query = query.filter(work_order_id=order_id)
    return await query.order_by("added_at", "id").prefetch_related("work_order__vehicle")


async def settle(
    order_id: int,
    *,
    invoice_no: str,
    amount: Decimal | str,
    now: datetime,
    tz: ZoneInfo,
    mileage_km: int | None = None,
) -> Settled:
    """Record the paid invoice once, update the vehicle's service history, and leave the amount for points."""
    invoice_no = invoice_no.strip()
    if not invoice_no:
        raise InvalidValue("an invoice number is required")
    paid = _money(amount, "amount")
    if mileage_km is not None and mileage_km < 0:
        raise InvalidValue("mileage cannot be negative")
    again = await _same_invoice(invoice_no, order_id)
    if again is not None:
        return Settled(again, created=False)
    order = await get(order_id)
    try:
        async with in_transaction():
            settlement = await Settlement.create(
                invoice_no=invoice_no,
                work_order=order,
                amount=paid,
                mileage_km=mileage_km if mileage_km is not None else order.mileage_km,
                settled_at=now,
            )
            await SettledAmountEvent.create(
                settlement=settlement,
                customer_id=order.customer_id,  # type: ignore[attr-defined]
                work_order=order,
                amount=paid,
                created_at=now,
            )
            await _record_service(order, settlement, now.astimezone(tz).date())
    except IntegrityError:
        again = await _same_invoice(invoice_no, order_id)
        if again is not None:
            return Settled(again, created=False)
        raise InvoiceConflict(f"work order {order.number} is settled already with another invoice") from None
    log.info("work order settled", extra={"work_order": order.number, "invoice": invoice_no})
    return Settled(settlement, created=True)


async def progress_of(customer_id: int, *, plate: str | None = None) -> list[VehicleProgress]:
    """The customer's vehicles (or the one with `plate`, if it is theirs) and what is happening to them."""
    vehicles = Vehicle.filter(customer_id=customer_id)
    if plate is not None:
        vehicles = vehicles.filter(plate=plate)
    result = []
    for vehicle in await vehicles.order_by("id"):
        order = (
            await WorkOrder.filter(open_vehicle_id=vehicle.id, customer_id=customer_id)
            .prefetch_related("advisor", "store")
            .first()
        )
        if order is None:
            result.append(VehicleProgress(vehicle, None, [], []))
            continue
        timeline = await StageChange.filter(work_order_id=order.id).order_by("at", "id")
        pending = await ExtraItem.filter(work_order_id=order.id, status=ExtraItemStatus.PENDING).order_by(
            "id"
        )
        result.append(VehicleProgress(vehicle, order, timeline, pending))
    return result


async def get(order_id: int) -> WorkOrder:
    order = await WorkOrder.get_or_none(id=order_id)
    if order is None:
        raise WorkOrderNotFound(f"no work order {order_id}")
    return order


async def open_order(order_id: int) -> WorkOrder:
    order = await get(order_id)
    if order.stage is WorkStage.DELIVERED:
        raise WorkOrderClosed(f"work order {order.number} is delivered ({WorkStage.DELIVERED.label})")
    return order


async def timeline(order_id: int) -> list[StageChange]:
    return await StageChange.filter(work_order_id=order_id).order_by("at", "id").prefetch_related("staff")


async def _move(
    order: WorkOrder, to: WorkStage, *, author: Author, now: datetime, notifier: Notifier
) -> bool:
    """The move itself, if the order is still where we read it; False when someone moved it first."""
    changes: dict[str, object] = {"stage": to, "stage_since": now}
    if to is WorkStage.DELIVERED:
        changes |= {"closed_at": now, "open_vehicle_id": None}
    async with in_transaction():
        if not await WorkOrder.filter(id=order.id, stage=order.stage).update(**changes):
            return False
        await _record_change(order, order.stage, to, author, now)
        if to is WorkStage.READY:
            await _announce_ready(order, now=now, notifier=notifier)
    return True


async def _record_change(
    order: WorkOrder, from_stage: WorkStage | None, to: WorkStage, author: Author, now: datetime
) -> StageChange:
    return await StageChange.create(
        work_order=order,
        from_stage=from_stage,
        to_stage=to,
        at=now,
        source=author.source,
        staff_id=author.staff_id,
    )


async def _announce_ready(order: WorkOrder, *, now: datetime, notifier: Notifier) -> None:
    """Tell the customer the car can be picked up: claimed once per work order, then queued."""
    if not await WorkOrder.filter(id=order.id, ready_notified_at__isnull=True).update(ready_notified_at=now):
        return
    await order.fetch_related("vehicle", "advisor", "store")
    notice = Notice(
        template="progress/ready",
        template_name=READY_TEMPLATE,
        template_data={
            "keyword1": order.vehicle.plate,
            "keyword2": WorkStage.READY.label,
            "keyword3": f"{notifier.local(now):%Y-%m-%d %H:%M}",
            "keyword4": order.store.name if order.store else "",
        },
        dedup_key=f"workorder-ready:{order.id}",
    )
    await notifier.to_customer(
        order.customer_id,  # type: ignore[attr-defined]
        notice,
        now=now,
        order=order,
        vehicle=order.vehicle,
        advisor=order.advisor,
        store=order.store,
    )


async def _ask_customer(order: WorkOrder, item: ExtraItem, *, now: datetime, notifier: Notifier) -> None:
    await order.fetch_related("vehicle", "advisor")
    notice = Notice(
        template="progress/extra_item",
        template_name=EXTRA_ITEM_TEMPLATE,
        template_data={
            "keyword1": order.vehicle.plate,
            "keyword2": item.description,
            "keyword3": f"{item.total:.2f}",
            "keyword4": str(item.id),
        },
        dedup_key=f"extra-item:{item.id}",
    )
    await notifier.to_customer(
        order.customer_id,  # type: ignore[attr-defined]
        notice,
        now=now,
        item=item,
        order=order,
        vehicle=order.vehicle,
        advisor=order.advisor,
    )


async def _record_service(order: WorkOrder, settlement: Settlement, day: date) -> None:
    vehicle = await Vehicle.get(id=order.vehicle_id)  # type: ignore[attr-defined]
    changes: dict[str, object] = {"last_service_date": day}
    if settlement.mileage_km is not None:
        changes["last_service_mileage_km"] = settlement.mileage_km
        changes["mileage_km"] = max(settlement.mileage_km, vehicle.mileage_km or 0)
    await Vehicle.filter(id=vehicle.id).update(**changes)


async def _same_number(number: str, plate: str) -> WorkOrder | None:
    """The order already opened under `number` for this plate; a conflict if for another car."""
    order = await WorkOrder.get_or_none(number=number).prefetch_related("vehicle")
    if order is None:
        return None
    if order.vehicle.plate != plate:
        raise NumberTaken(f"work order number {number} belongs to another vehicle")
    return order


async def _same_invoice(invoice_no: str, order_id: int) -> Settlement | None:
    settlement = await Settlement.get_or_none(invoice_no=invoice_no)
    if settlement is None:
        return None
    if settlement.work_order_id != order_id:  # type: ignore[attr-defined]
        raise InvoiceConflict(f"invoice {invoice_no} settles another work order")
    return settlement


def _money(value: Decimal | str, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidValue(f"{name} {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise InvalidValue(f"{name} {value!r} must be a non-negative amount in yuan with at most 2 decimals")
    return amount.quantize(CENT)


def _check_eta(eta: datetime | None, earliest: datetime) -> None:
    if eta is None:
        return
    if eta.tzinfo is None:
        raise InvalidValue("the ETA needs a time zone")
    if eta < earliest:
        raise InvalidValue("the ETA is before the car arrived")
