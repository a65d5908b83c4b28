"""BOOK and MY_BOOKINGS: book a service slot; list, reschedule or cancel bookings.

```mermaid
stateDiagram-v2
    [*] --> store: BOOK / 预约 / 保养 (bound, several stores)
    [*] --> vehicle: one store, several vehicles
    [*] --> service: one store, one vehicle
    [*] --> [*]: not bound or no vehicle (offer BIND)
    store --> vehicle
    vehicle --> service
    service --> day
    day --> day: unreadable, past, closed, full (re-ask with the next bookable days)
    day --> slot: a bookable day
    day --> confirm: a day and a time inside a slot with room
    slot --> confirm: a slot with room
    confirm --> service: 修改
    confirm --> slot: 确认, but the slot filled meanwhile
    confirm --> [*]: 确认 / 是 (booked: number, advisor told) or 取消

    state MY_BOOKINGS {
        [*] --> pick: MY_BOOKINGS / 我的预约 (upcoming bookings)
        pick --> action: a booking
        action --> cancel: 取消预约
        cancel --> [*]: 确认取消 (place freed, advisor told) / 不取消
    }
    action --> day: 改期 (the booking flow from the day step; 确认 moves it, advisor told)
```

Nothing is written before 确认: a customer who leaves at any step leaves nothing behind. The
place is taken by `appointments.book`, which is idempotent by the flow's request key, so a
repeated 确认 never books twice. All rules live in `bot.services.booking`; this module talks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from uuid import uuid4

from bot.conversation.context import Context
from bot.conversation.replies import Reply
from bot.conversation.router import Router
from bot.conversation.storage import FlowState
from bot.conversation.validators import When, parse_when
from bot.models import Appointment, ServiceType, Store, Vehicle
from bot.services import binding
from bot.services.booking import appointments, availability
from bot.services.booking.appointments import BookingRequest
from bot.services.booking.availability import Slot
from bot.services.booking.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    DayNotBookable,
    SlotFull,
    SlotNotFound,
    VehicleNotFound,
)
from bot.services.stores import main_store

router = Router("booking")

FLOW = "book"
MY_FLOW = "my_bookings"
CONFIRM_WORDS = frozenset({"确认", "是", "是的", "确定", "好", "好的", "对", "ok", "yes"})
DAYS_OFFERED = 5

ChoiceHandler = Callable[[Context, Any], Awaitable[Reply]]


def _label(ctx: Context, key: str, **values: Any) -> str:
    """An option's wording, from the flow's label template (so dealers can reword options too)."""
    return ctx.render("booking/label", key=key, **values)


def _keep(ctx: Context, **data: Any) -> None:
    """Remember an answer in the flow without moving on yet."""
    assert ctx.flow is not None
    ctx.flow = ctx.flow.at(ctx.flow.step, **data)


def _is_yes(ctx: Context) -> bool:
    return ctx.text.strip(" 。.!！").lower() in CONFIRM_WORDS


def _choice_step(flow: str, step: str, *, yes: str | None = None) -> Callable[[ChoiceHandler], ChoiceHandler]:
    """Register a numbered-choice step: the handler gets the value of the option picked, and an
    answer that picks none is asked again with the same options. At a confirmation, 确认 / 是
    also picks the option whose value is `yes`."""

    def register(handler: ChoiceHandler) -> ChoiceHandler:
        @router.step(flow, step)
        async def on_answer(ctx: Context) -> Reply:
            picked = yes if yes is not None and _is_yes(ctx) else ctx.picked()
            if picked is None:
                return ctx.reask_choice("booking/not_an_option")
            return await handler(ctx, picked)

        return handler

    return register


# --- MY_BOOKINGS (registered first: "我的预约" also contains BOOK's keyword 预约) ---


@router.start("MY_BOOKINGS", flow=MY_FLOW, keywords=("我的预约", "改期", "取消预约", "预约记录", "查预约"))
async def start_my_bookings(ctx: Context) -> Reply:
    customer = ctx.customer
    if customer is None:
        return ctx.finish("booking/bind_first", vehicles=True)
    upcoming = await appointments.upcoming_for(customer.id, now=ctx.services.clock.now())
    if not upcoming:
        return ctx.finish("booking/my_none")
    ctx.flow = FlowState(MY_FLOW, "pick")
    tz = ctx.services.settings.tz
    options = [(a.id, _label(ctx, "appointment", appointment=a, tz=tz)) for a in upcoming]
    return ctx.offer("pick", "booking/my_list", options, count=len(upcoming))


@_choice_step(MY_FLOW, "pick")
async def on_pick_booking(ctx: Context, appointment_id: int) -> Reply:
    appointment = await _changeable(ctx, appointment_id)
    if appointment is None:
        return ctx.finish("booking/closed")
    _keep(ctx, appointment_id=appointment.id)
    await appointment.fetch_related("vehicle", "store")
    options = [("move", _label(ctx, "move")), ("cancel", _label(ctx, "cancel_booking"))]
    return ctx.offer(
        "action", "booking/my_detail", options, appointment=appointment, tz=ctx.services.settings.tz
    )


@_choice_step(MY_FLOW, "action")
async def on_booking_action(ctx: Context, picked: str) -> Reply:
    appointment = await _changeable(ctx, ctx.data["appointment_id"])
    if appointment is None:
        return ctx.finish("booking/closed")
    if picked == "cancel":
        options = [("yes", _label(ctx, "confirm_cancel")), ("no", _label(ctx, "keep"))]
        return ctx.offer("cancel", "booking/ask_cancel", options, appointment=appointment)
    ctx.flow = FlowState(
        FLOW,
        "day",
        {
            "appointment_id": appointment.id,
            "store_id": appointment.store_id,  # type: ignore[attr-defined]
            "vehicle_id": appointment.vehicle_id,  # type: ignore[attr-defined]
            "service": appointment.service_type.value,
        },
    )
    return await _ask_day(ctx)


@_choice_step(MY_FLOW, "cancel", yes="yes")
async def on_cancel_confirm(ctx: Context, picked: str) -> Reply:
    if picked == "no":
        return ctx.finish("booking/kept")
    customer = ctx.customer
    assert customer is not None
    try:
        appointment = await appointments.cancel(
            ctx.data["appointment_id"],
            now=ctx.services.clock.now(),
            notifier=ctx.services.notifier,
            customer_id=customer.id,
        )
    except (AppointmentClosed, AppointmentNotFound):
        return ctx.finish("booking/closed")
    return ctx.finish("booking/cancelled", appointment=appointment, tz=ctx.services.settings.tz)


async def _changeable(ctx: Context, appointment_id: int) -> Appointment | None:
    customer = ctx.customer
    if customer is None:
        return None
    try:
        return await appointments.changeable(
            appointment_id, now=ctx.services.clock.now(), customer_id=customer.id
        )
    except (AppointmentClosed, AppointmentNotFound):
        return None


# --- BOOK ---


@router.start("BOOK", flow=FLOW, keywords=("预约", "保养", "约个时间"))
async def start_booking(ctx: Context) -> Reply:
    customer = ctx.customer
    vehicles = await binding.vehicles_of(customer) if customer is not None else []
    if not vehicles:
        return ctx.finish("booking/bind_first", vehicles=customer is None)
    stores = await availability.bookable_stores()
    if not stores:
        return ctx.finish("booking/unavailable", store=await main_store())
    ctx.flow = FlowState(FLOW, "store", {"request_key": uuid4().hex})
    if len(stores) == 1:
        _keep(ctx, store_id=stores[0].id)
        return await _ask_vehicle(ctx)
    assert customer is not None
    own_first = sorted(stores, key=lambda s: s.id != customer.store_id)  # type: ignore[attr-defined]
    return ctx.choose("store", "booking/ask_store", options=[(s.id, s.name) for s in own_first])


@_choice_step(FLOW, "store")
async def on_store(ctx: Context, store_id: int) -> Reply:
    _keep(ctx, store_id=store_id)
    return await _ask_vehicle(ctx)


async def _ask_vehicle(ctx: Context) -> Reply:
    customer = ctx.customer
    assert customer is not None
    vehicles = await binding.vehicles_of(customer)
    if len(vehicles) == 1:
        _keep(ctx, vehicle_id=vehicles[0].id)
        return await _ask_service(ctx)
    options = [(v.id, _label(ctx, "vehicle", vehicle=v)) for v in vehicles]
    return ctx.choose("vehicle", "booking/ask_vehicle", options=options)


@_choice_step(FLOW, "vehicle")
async def on_vehicle(ctx: Context, vehicle_id: int) -> Reply:
    _keep(ctx, vehicle_id=vehicle_id)
    return await _ask_service(ctx)


async def _ask_service(ctx: Context) -> Reply:
    kinds = await availability.service_types_at(ctx.data["store_id"])
    return ctx.choose("service", "booking/ask_service", options=[(k.value, k.label) for k in kinds])


@_choice_step(FLOW, "service")
async def on_service(ctx: Context, service: str) -> Reply:
    _keep(ctx, service=service)
    return await _ask_day(ctx)


async def _ask_day(ctx: Context, *, day_full: bool = False) -> Reply:
    settings, now = ctx.services.settings, ctx.services.clock.now()
    days = await availability.bookable_days(
        ctx.data["store_id"], ServiceType(ctx.data["service"]), now=now, tz=settings.tz, limit=DAYS_OFFERED
    )
    if not days:
        store = await Store.get(id=ctx.data["store_id"])
        return ctx.finish("booking/no_days", store=store, horizon=availability.HORIZON_DAYS)
    options = [(d.isoformat(), _label(ctx, "day", day=d)) for d in days]
    return ctx.offer(
        "day", "booking/ask_day", options, rescheduling="appointment_id" in ctx.data, day_full=day_full
    )


@router.step(FLOW, "day")
async def on_day(ctx: Context) -> Reply:
    settings, now = ctx.services.settings, ctx.services.clock.now()
    when = parse_when(ctx.text, now, settings.tz)
    picked = ctx.picked() if when is None else None
    day = when.day if when is not None else date.fromisoformat(picked) if picked else None
    if day is None:
        return ctx.reask_choice("booking/bad_day")
    offer = await availability.day_offer(
        ctx.data["store_id"], ServiceType(ctx.data["service"]), day, now=now, tz=settings.tz
    )
    if offer.problem is not None:
        return ctx.reask_choice("booking/day_unavailable", day=day, reason=offer.problem.value)
    _keep(ctx, day=day.isoformat())
    slots = offer.open_slots
    wanted = next((s for s in slots if when and when.time and s.contains(when.time)), None)
    if wanted is not None:
        return await _summary(ctx, wanted)
    return _ask_slot(ctx, slots, when)


def _ask_slot(ctx: Context, slots: list[Slot], when: When | None = None, *, taken: bool = False) -> Reply:
    """The day's slots with room; those of the part of the day the customer named, if any."""
    named = [s for s in slots if when and when.part_of_day == _part_of_day(s)]
    shown = named or slots
    options = [(s.window_id, _label(ctx, "slot", slot=s)) for s in shown]
    return ctx.offer(
        "slot",
        "booking/ask_slot",
        options,
        day=date.fromisoformat(ctx.data["day"]),
        taken=taken,
        time_unavailable=bool(when and when.time),
        part_unavailable=bool(when and when.part_of_day and not named),
    )


def _part_of_day(slot: Slot) -> str:
    hour = slot.starts.hour
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


@router.step(FLOW, "slot")
async def on_slot(ctx: Context) -> Reply:
    picked = ctx.picked()
    if picked is None:
        when = parse_when(ctx.text, ctx.services.clock.now(), ctx.services.settings.tz)
        slots = await _open_slots(ctx)
        picked = next((s.window_id for s in slots if when and when.time and s.contains(when.time)), None)
    if picked is None:
        return ctx.reask_choice("booking/bad_slot")
    slots = await _open_slots(ctx)
    slot = next((s for s in slots if s.window_id == picked), None)
    if slot is None:
        return await _offer_again(ctx)
    return await _summary(ctx, slot)


async def _offer_again(ctx: Context) -> Reply:
    """The slot the customer wanted filled up meanwhile: the day's other slots, or other days."""
    slots = await _open_slots(ctx)
    return _ask_slot(ctx, slots, taken=True) if slots else await _ask_day(ctx, day_full=True)


async def _open_slots(ctx: Context) -> list[Slot]:
    offer = await availability.day_offer(
        ctx.data["store_id"],
        ServiceType(ctx.data["service"]),
        date.fromisoformat(ctx.data["day"]),
        now=ctx.services.clock.now(),
        tz=ctx.services.settings.tz,
    )
    return offer.open_slots


async def _summary(ctx: Context, slot: Slot) -> Reply:
    _keep(ctx, window_id=slot.window_id)
    rescheduling = "appointment_id" in ctx.data
    options = [
        ("confirm", _label(ctx, "confirm")),
        ("change", _label(ctx, "change")),
        ("quit", _label(ctx, "quit")),
    ]
    return ctx.offer(
        "confirm",
        "booking/summary",
        options,
        store=await Store.get(id=ctx.data["store_id"]),
        vehicle=await Vehicle.get(id=ctx.data["vehicle_id"]),
        service=ServiceType(ctx.data["service"]),
        slot=slot,
        rescheduling=rescheduling,
    )


@_choice_step(FLOW, "confirm", yes="confirm")
async def on_confirm(ctx: Context, picked: str) -> Reply:
    if picked == "quit":
        return ctx.finish("booking/abandoned")
    if picked == "change":
        return await (_ask_day(ctx) if "appointment_id" in ctx.data else _ask_service(ctx))
    try:
        return await _book(ctx)
    except SlotFull:
        return await _offer_again(ctx)
    except (DayNotBookable, SlotNotFound):
        return await _ask_day(ctx)
    except (AppointmentClosed, AppointmentNotFound):
        return ctx.finish("booking/closed")
    except VehicleNotFound:
        return ctx.finish("booking/bind_first", vehicles=False)


async def _book(ctx: Context) -> Reply:
    """Make (or move) the booking the customer confirmed."""
    customer, data, now = ctx.customer, ctx.data, ctx.services.clock.now()
    assert customer is not None
    notifier = ctx.services.notifier
    day, window_id = date.fromisoformat(data["day"]), data["window_id"]
    if "appointment_id" in data:
        appointment = await appointments.reschedule(
            data["appointment_id"],
            day=day,
            window_id=window_id,
            now=now,
            notifier=notifier,
            customer_id=customer.id,
        )
        template = "booking/rescheduled"
    else:
        request = BookingRequest(
            customer_id=customer.id,
            vehicle_id=data["vehicle_id"],
            store_id=data["store_id"],
            service_type=ServiceType(data["service"]),
            day=day,
            window_id=window_id,
            request_key=data["request_key"],
        )
        appointment = (await appointments.book(request, now=now, notifier=notifier)).appointment
        template = "booking/booked"
    await appointment.fetch_related("store", "vehicle", "advisor")
    return ctx.finish(template, appointment=appointment, tz=ctx.services.settings.tz)
