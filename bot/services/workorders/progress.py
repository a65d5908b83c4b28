"""What a customer sees of their cars in the workshop: only their own, looked up by customer id."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import ExtraItem, ExtraItemStatus, StageChange, Vehicle, WorkOrder


@dataclass(frozen=True)
class VehicleProgress:
    """What the customer sees for one vehicle: its open order (None: not in the workshop)."""

    vehicle: Vehicle
    order: WorkOrder | None
    timeline: list[StageChange]
    pending: list[ExtraItem]


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
