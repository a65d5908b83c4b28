"""Shared helpers for the booking, work-order and progress tests (no tests here): a store with
its weekly windows, a bound customer with a car and an advisor on WeChat, and the outbox drained
through the fake WeChat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.app import WECHAT
from bot.clock import FrozenClock
from bot.conversation.texts import Texts
from bot.models import Customer, Follower, ServiceType, Staff, Store, Vehicle
from bot.services.booking import capacity
from bot.services.booking.appointments import Booked, BookingRequest, book
from bot.services.booking.capacity import WindowSpec
from bot.services.customer_notices import Notifier
from bot.services.outbox import DrainReport, drain
from bot.wechat.fake import SentMessage
from tests import factories
from tests.conftest import Bot

TZ = ZoneInfo("Asia/Shanghai")
TEMPLATE_IDS = {
    "booking_created": "TPL-BOOKING",
    "appointment_reminder": "TPL-REMINDER",
    "workorder_ready": "TPL-READY",
    "extra_item": "TPL-EXTRA",
}
ADVISOR_OPENID = "o-advisor-li"
CUSTOMER_OPENID = "o-zhang"
MONDAY = date(2026, 11, 23)  # the test clock's day (09:00 in Shanghai)
TUESDAY = date(2026, 11, 24)
WEEKDAYS = range(6)  # Monday to Saturday; Sundays closed


def every_service(places: int) -> dict[ServiceType, int]:
    return dict.fromkeys(ServiceType, places)


def standard_windows(places: int = 2, *, off_peak_bonus: int = 50) -> list[WindowSpec]:
    """The dealer's usual day: two morning and two afternoon windows, the last one off-peak."""
    return [
        WindowSpec(time(8, 30), time(10, 0), every_service(places)),
        WindowSpec(time(10, 0), time(11, 30), every_service(places)),
        WindowSpec(time(13, 30), time(15, 0), every_service(places)),
        WindowSpec(time(15, 0), time(16, 30), every_service(places), off_peak_bonus=off_peak_bonus),
    ]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


@dataclass(frozen=True)
class Workshop:
    store: Store
    advisor: Staff
    customer: Customer
    vehicle: Vehicle


async def make_workshop(
    places: int = 2, *, code: str = "SZ01", windows: list[WindowSpec] | None = None, bound: bool = True
) -> Workshop:
    """A store open Monday to Saturday, an advisor reachable on WeChat, and their customer, bound."""
    shop = await factories.store(code=code)
    await capacity.set_windows(
        shop.id, WEEKDAYS, windows if windows is not None else standard_windows(places)
    )
    advisor = await factories.staff(shop, openid=ADVISOR_OPENID)
    customer, vehicle = await factories.customer_with_car(shop, advisor=advisor)
    if bound:
        await bind(CUSTOMER_OPENID, customer)
    return Workshop(shop, advisor, customer, vehicle)


async def bind(openid: str, customer: Customer) -> Follower:
    """Bound as BIND would leave it (binding has its own tests)."""
    return await Follower.create(openid=openid, customer=customer, bound_at=datetime(2026, 11, 1, tzinfo=TZ))


def notifier() -> Notifier:
    return Notifier(Texts(), TZ)


async def window_id(store: Store, day: date, starts: time) -> int:
    """The id of the store's window starting at `starts` on `day`'s weekday."""
    windows = await capacity.week_of(store.id)
    return next(w.id for w in windows if w.weekday == day.weekday() and w.starts == starts)


async def book_for(
    shop: Workshop,
    day: date = TUESDAY,
    starts: time = time(10, 0),
    *,
    now: datetime,
    service: ServiceType = ServiceType.MAINTENANCE,
    vehicle: Vehicle | None = None,
    request_key: str | None = None,
) -> Booked:
    vehicle = vehicle or shop.vehicle
    request = BookingRequest(
        customer_id=vehicle.customer_id,  # type: ignore[attr-defined]
        vehicle_id=vehicle.id,
        store_id=shop.store.id,
        service_type=service,
        day=day,
        window_id=await window_id(shop.store, day, starts),
        request_key=request_key,
    )
    return await book(request, now=now, notifier=notifier())


async def drain_outbox(bot: Bot) -> DrainReport:
    return await drain(bot.app[WECHAT], bot.settings, bot.clock)


def sent_to(bot: Bot, openid: str) -> list[SentMessage]:
    return [m for m in bot.wechat.state.messages if m.openid == openid]


def templates_sent(bot: Bot, openid: str, template_name: str) -> list[SentMessage]:
    template_id = TEMPLATE_IDS[template_name]
    return [
        m for m in sent_to(bot, openid) if m.kind == "template" and m.payload["template_id"] == template_id
    ]


def at(clock: FrozenClock, day: date, hour: int, minute: int = 0) -> datetime:
    """Move the test clock to a local time and return it."""
    clock.set(local(day, hour, minute))
    return clock.now()


def words(message: SentMessage) -> str:
    """What the customer reads: a customer-service text's content, or a template message's values."""
    if message.kind == "template":
        return " ".join(value["value"] for value in message.payload["data"].values())
    return str(message.payload["text"]["content"])
