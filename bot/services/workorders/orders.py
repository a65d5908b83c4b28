"""Opening a work order for a plate, moving it through the stages, its ETA and its timeline.

Stages only move forward (see `allowed_next`); a move is a conditional update on the stage read,
so two concurrent moves cannot both succeed from the same stage, and each success writes one
`StageChange`. 待交车 is announced to the customer once per work order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.conversation.validators import mask_plate, parse_plate
from bot.models import ChangeSource, StageChange, Vehicle, WorkOrder, WorkStage
from bot.services.booking.appointments import fulfil_on_arrival
from bot.services.customer_notices import Notice, Notifier
from bot.services.workorders.errors import (
    InvalidStageChange,
    InvalidValue,
    NumberTaken,
    VehicleInWorkshop,
    VehicleNotFound,
    WorkOrderClosed,
    WorkOrderNotFound,
)

log = logging.getLogger(__name__)

READY_TEMPLATE = "workorder_ready"


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


async def _same_number(number: str, plate: str) -> WorkOrder | None:
    """The order already opened under `number` for this plate; a conflict if for another car."""
    order = await WorkOrder.get_or_none(number=number).prefetch_related("vehicle")
    if order is None:
        return None
    if order.vehicle.plate != plate:
        raise NumberTaken(f"work order number {number} belongs to another vehicle")
    return order


def _check_eta(eta: datetime | None, earliest: datetime) -> None:
    if eta is None:
        return
    if eta.tzinfo is None:
        raise InvalidValue("the ETA needs a time zone")
    if eta < earliest:
        raise InvalidValue("the ETA is before the car arrived")
