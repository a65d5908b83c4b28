"""Settling a work order: once per invoice number, with the vehicle's service history updated and
a durable `SettledAmountEvent` left for the points ledger (consumed later, never lost)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import SettledAmountEvent, Settlement, Vehicle, WorkOrder
from bot.services.workorders.amounts import money
from bot.services.workorders.errors import InvalidValue, InvoiceConflict
from bot.services.workorders.orders import get

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    settlement: Settlement
    created: bool  # False: this invoice had been recorded already


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
    paid = money(amount, "amount")
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


async def _record_service(order: WorkOrder, settlement: Settlement, day: date) -> None:
    vehicle = await Vehicle.get(id=order.vehicle_id)  # type: ignore[attr-defined]
    changes: dict[str, object] = {"last_service_date": day}
    if settlement.mileage_km is not None:
        changes["last_service_mileage_km"] = settlement.mileage_km
        changes["mileage_km"] = max(settlement.mileage_km, vehicle.mileage_km or 0)
    await Vehicle.filter(id=vehicle.id).update(**changes)


async def _same_invoice(invoice_no: str, order_id: int) -> Settlement | None:
    settlement = await Settlement.get_or_none(invoice_no=invoice_no)
    if settlement is None:
        return None
    if settlement.work_order_id != order_id:  # type: ignore[attr-defined]
        raise InvoiceConflict(f"invoice {invoice_no} settles another work order")
    return settlement
