"""Demo rows for booking and the workshop: every store's weekly windows, a booking, a car under
repair with a 增项 awaiting the customer, and a car ready for pickup.

Loaded after `data.load_demo_data` (it needs the demo stores, customers and cars) and, like it,
idempotent: windows are set only for a store that has none, the booking carries a request key
and the work orders DMS numbers, so loading again on every start finds what is there.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from bot.models import ServiceType, SlotWindow, Store, Vehicle, WorkStage
from bot.services.booking import availability, capacity
from bot.services.booking.appointments import BookingRequest, book
from bot.services.booking.capacity import WindowSpec
from bot.services.customer_notices import Notifier
from bot.services.workorders import extras, orders
from bot.services.workorders.orders import DMS
from bot.settings import Settings

log = logging.getLogger(__name__)

PLACES = {
    ServiceType.FIRST_SERVICE: 2,
    ServiceType.MAINTENANCE: 3,
    ServiceType.REPAIR: 2,
    ServiceType.BODYWORK: 1,
    ServiceType.WARRANTY: 1,
}
WINDOWS = (
    WindowSpec(time(8, 30), time(10, 0), PLACES),
    WindowSpec(time(10, 0), time(11, 30), PLACES),
    WindowSpec(time(13, 30), time(15, 0), PLACES),
    WindowSpec(time(15, 0), time(16, 30), PLACES, off_peak_bonus=50),  # 错峰: the quiet afternoon
)
OPEN_DAYS = range(6)  # Monday to Saturday
BOOKED_PLATE = "粤B12345"
REPAIRING_PLATE = "粤B67890"
READY_PLATE = "粤B8K2L3"
PATH = (WorkStage.DIAGNOSING, WorkStage.REPAIRING, WorkStage.QUALITY_CHECK, WorkStage.READY)


async def load_workshop_demo(settings: Settings, now: datetime) -> None:
    """Load the booking and workshop demo rows (after the stores, customers and cars)."""
    notifier = Notifier.from_settings(settings)
    for store in await Store.all():
        if not await SlotWindow.filter(store_id=store.id).exists():
            await capacity.set_windows(store.id, OPEN_DAYS, WINDOWS)
    await _booking(BOOKED_PLATE, now, notifier)
    await _in_workshop(
        REPAIRING_PLATE, "DEMO-RO-0001", WorkStage.REPAIRING, now, notifier, extra="前刹车片剩余2mm，建议更换"
    )
    await _in_workshop(READY_PLATE, "DEMO-RO-0002", WorkStage.READY, now, notifier)


async def _vehicle(plate: str) -> Vehicle | None:
    vehicle = await Vehicle.get_or_none(plate=plate)
    if vehicle is None:
        log.warning("demo vehicle missing; load the demo customers first", extra={"plate": plate})
    return vehicle


async def _booking(plate: str, now: datetime, notifier: Notifier) -> None:
    """A routine service at the next bookable day's 10:00 window."""
    vehicle = await _vehicle(plate)
    if vehicle is None or vehicle.store_id is None:  # type: ignore[attr-defined]
        return
    store_id: int = vehicle.store_id  # type: ignore[attr-defined]
    tomorrow = now + timedelta(days=1)
    days = await availability.bookable_days(
        store_id, ServiceType.MAINTENANCE, now=tomorrow, tz=notifier.tz, limit=1
    )
    offer = await availability.day_offer(store_id, ServiceType.MAINTENANCE, days[0], now=now, tz=notifier.tz)
    slot = next(s for s in offer.open_slots if s.starts >= time(10, 0))
    request = BookingRequest(
        customer_id=vehicle.customer_id,  # type: ignore[attr-defined]
        vehicle_id=vehicle.id,
        store_id=store_id,
        service_type=ServiceType.MAINTENANCE,
        day=slot.day,
        window_id=slot.window_id,
        request_key=f"demo-booking-{plate}",
    )
    await book(request, now=now, notifier=notifier)


async def _in_workshop(
    plate: str, number: str, stage: WorkStage, now: datetime, notifier: Notifier, *, extra: str | None = None
) -> None:
    """A car that arrived two hours ago and has moved up to `stage`, with a 增项 found on the way."""
    vehicle = await _vehicle(plate)
    if vehicle is None:
        return
    arrived = now - timedelta(hours=2)
    opened = await orders.open_for_plate(
        plate, author=DMS, now=arrived, tz=notifier.tz, number=number, eta=now + timedelta(hours=3)
    )
    if not opened.created:
        return
    order = opened.order
    for n, step in enumerate(PATH[: PATH.index(stage) + 1], start=1):
        await orders.change_stage(
            order.id, step, author=DMS, now=arrived + timedelta(minutes=25 * n), notifier=notifier
        )
    if extra is not None:
        await extras.add_extra_item(
            order.id,
            description=extra,
            parts_price="400",
            labour_price="80",
            author=DMS,
            now=now,
            notifier=notifier,
            external_ref=f"{number}/1",
        )
