"""Booking rules through the services: capacity held by the database, cancel and reschedule free
places at once, closed and past days refused, the advisor told once; on both backends."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest

from bot.clock import FrozenClock
from bot.models import Appointment, AppointmentStatus, Customer, Outbox, ServiceType, SlotPlace
from bot.services.booking import appointments, availability, capacity
from bot.services.booking.capacity import WindowSpec
from bot.services.booking.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    CapacityConfigError,
    DayNotBookable,
    SlotFull,
    Unbookable,
    VehicleNotFound,
)
from tests import factories
from tests.backends import Backend
from tests.test_booking_support import (
    ADVISOR_OPENID,
    MONDAY,
    TUESDAY,
    TZ,
    book_for,
    every_service,
    make_workshop,
    notifier,
    standard_windows,
    window_id,
)

SUNDAY = MONDAY + timedelta(days=6)


async def test_twenty_concurrent_bookings_of_the_last_place_get_exactly_one(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop(places=1, bound=False)
    cars = [
        (await factories.customer_with_car(shop.store, phone=f"1370000{n:04d}", plate=f"粤B7{n:04d}"))[1]
        for n in range(20)
    ]

    outcomes = await asyncio.gather(
        *(book_for(shop, vehicle=car, now=clock.now()) for car in cars), return_exceptions=True
    )

    booked = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(booked) == 1, outcomes
    assert all(isinstance(o, SlotFull) for o in outcomes if isinstance(o, BaseException)), outcomes
    assert await SlotPlace.all().count() == 1
    assert await Appointment.all().count() == 1  # the losers' rows were rolled back with them


async def test_cancelling_frees_the_place_for_the_next_customer(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop(places=1)
    _, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    first = (await book_for(shop, now=clock.now())).appointment
    with pytest.raises(SlotFull):
        await book_for(shop, vehicle=other_car, now=clock.now())

    cancelled = await appointments.cancel(
        first.id, now=clock.now(), notifier=notifier(), customer_id=shop.customer.id
    )

    assert cancelled.status is AppointmentStatus.CANCELLED and cancelled.cancelled_at == clock.now()
    second = (await book_for(shop, vehicle=other_car, now=clock.now())).appointment
    assert second.status is AppointmentStatus.BOOKED
    again = await appointments.cancel(first.id, now=clock.now(), notifier=notifier())
    assert again == cancelled  # nothing changes


async def test_rescheduling_moves_the_place_and_keeps_the_number(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop(places=1)
    _, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    booking = (await book_for(shop, now=clock.now())).appointment
    afternoon = await window_id(shop.store, TUESDAY, time(13, 30))

    moved = await appointments.reschedule(
        booking.id, day=TUESDAY, window_id=afternoon, now=clock.now(), notifier=notifier()
    )

    assert (moved.number, moved.starts) == (booking.number, time(13, 30))
    assert moved.starts_at == booking.starts_at + timedelta(hours=3, minutes=30)
    assert (await book_for(shop, vehicle=other_car, now=clock.now())).created  # 10:00 is free again
    with pytest.raises(SlotFull):
        await appointments.reschedule(
            booking.id,
            day=TUESDAY,
            window_id=await window_id(shop.store, TUESDAY, time(10, 0)),
            now=clock.now(),
            notifier=notifier(),
        )
    assert (await Appointment.get(id=booking.id)).starts == time(13, 30)  # a refused move changes nothing


async def test_a_moved_booking_is_listed_in_time_order(db: Backend, clock: FrozenClock) -> None:
    """Regression: a move wrote local times, which SQLite compared as text with the UTC ones."""
    shop = await make_workshop()
    later = (await book_for(shop, TUESDAY, time(13, 30), now=clock.now())).appointment
    moved = (await book_for(shop, TUESDAY, time(10, 0), now=clock.now())).appointment
    early = await window_id(shop.store, TUESDAY, time(8, 30))

    await appointments.reschedule(
        moved.id, day=TUESDAY, window_id=early, now=clock.now(), notifier=notifier()
    )

    upcoming = await appointments.upcoming_for(shop.customer.id, now=clock.now())
    assert [a.id for a in upcoming] == [moved.id, later.id]


async def test_the_same_request_key_books_once(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()

    first = await book_for(shop, now=clock.now(), request_key="flow-1")
    again = await book_for(shop, now=clock.now(), request_key="flow-1")
    racing = await asyncio.gather(*(book_for(shop, now=clock.now(), request_key="flow-2") for _ in range(3)))

    assert first.created and not again.created and again.appointment.id == first.appointment.id
    assert sorted(r.created for r in racing) == [False, False, True]
    assert await Appointment.all().count() == 2


async def test_booking_number_is_dated_and_the_advisor_is_told_once(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()

    booking = (await book_for(shop, now=clock.now(), request_key="k")).appointment
    await book_for(shop, now=clock.now(), request_key="k")

    assert booking.number == f"B20261123-{booking.id:04d}"
    notices = await Outbox.filter(openid=ADVISOR_OPENID)
    assert len(notices) == 1 and notices[0].template_name == "booking_created"
    assert (
        "张先生" in notices[0].text and "粤B12345" in notices[0].text and "11月24日 10:00" in notices[0].text
    )


async def test_every_move_and_the_cancellation_are_told_to_the_advisor_once(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    booking = (await book_for(shop, TUESDAY, time(10, 0), now=clock.now())).appointment
    morning = await window_id(shop.store, TUESDAY, time(10, 0))
    afternoon = await window_id(shop.store, TUESDAY, time(13, 30))

    for window in (afternoon, morning, afternoon, afternoon):  # the last one changes nothing
        await appointments.reschedule(
            booking.id, day=TUESDAY, window_id=window, now=clock.now(), notifier=notifier()
        )
    for _ in range(2):
        await appointments.cancel(booking.id, now=clock.now(), notifier=notifier())

    moves = await Outbox.filter(openid=ADVISOR_OPENID, template_name="booking_moved").order_by("id")
    from_to = [(data["keyword5"], data["keyword4"]) for m in moves if (data := m.template_data)]
    assert [(was[-5:], now[-5:]) for was, now in from_to] == [
        ("10:00", "13:30"),
        ("13:30", "10:00"),
        ("10:00", "13:30"),
    ]
    assert moves[0].text.startswith(f"预约改期 {booking.number}")
    assert "新时间：11月24日（周二） 13:30-15:00\n原时间：11月24日（周二） 10:00-11:30" in moves[0].text
    [cancelled] = await Outbox.filter(openid=ADVISOR_OPENID, template_name="booking_cancelled")
    assert cancelled.text.startswith(f"预约取消 {booking.number}")
    assert "原时间：11月24日（周二） 13:30-15:00，名额已释放" in cancelled.text
    assert cancelled.template_data == dict(
        keyword1=booking.number, keyword2="张先生", keyword3="定期保养", keyword4="2026-11-24 13:30"
    )


async def test_days_that_cannot_be_booked_say_why(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop(places=1)
    await capacity.close_day(shop.store.id, TUESDAY + timedelta(days=1), "盘点")
    now, kind = clock.now(), ServiceType.MAINTENANCE

    async def problem(day):  # type: ignore[no-untyped-def]
        return (await availability.day_offer(shop.store.id, kind, day, now=now, tz=TZ)).problem

    assert await problem(MONDAY - timedelta(days=1)) is Unbookable.PAST
    assert await problem(MONDAY + timedelta(days=31)) is Unbookable.TOO_FAR
    assert await problem(SUNDAY) is Unbookable.NO_HOURS
    assert await problem(TUESDAY + timedelta(days=1)) is Unbookable.CLOSED
    assert await problem(TUESDAY) is None
    with pytest.raises(DayNotBookable) as refused:
        await book_for(shop, TUESDAY + timedelta(days=1), now=now)
    assert refused.value.reason is Unbookable.CLOSED


async def test_only_slots_with_room_and_not_started_are_offered(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop(places=1)
    now, kind = clock.now(), ServiceType.MAINTENANCE
    await book_for(shop, MONDAY, time(10, 0), now=now)

    today = await availability.day_offer(shop.store.id, kind, MONDAY, now=now, tz=TZ)

    assert [s.starts for s in today.slots] == [time(10, 0), time(13, 30), time(15, 0)]  # 08:30 has begun
    assert [s.starts for s in today.open_slots] == [time(13, 30), time(15, 0)]
    assert [s.off_peak_bonus for s in today.open_slots] == [0, 50]


async def test_bookable_days_skip_full_closed_and_sundays(db: Backend, clock: FrozenClock) -> None:
    one_window = [WindowSpec(time(10, 0), time(11, 30), {ServiceType.REPAIR: 1})]
    shop = await make_workshop(windows=one_window)
    await capacity.close_day(shop.store.id, TUESDAY + timedelta(days=1))
    await book_for(shop, TUESDAY, service=ServiceType.REPAIR, now=clock.now())

    days = await availability.bookable_days(
        shop.store.id, ServiceType.REPAIR, now=clock.now(), tz=TZ, limit=4
    )

    assert days == [
        MONDAY,
        MONDAY + timedelta(days=3),
        MONDAY + timedelta(days=4),
        MONDAY + timedelta(days=5),
    ]
    assert await availability.bookable_days(shop.store.id, ServiceType.BODYWORK, now=clock.now(), tz=TZ) == []
    assert await availability.service_types_at(shop.store.id) == [ServiceType.REPAIR]


async def test_a_window_without_capacity_for_the_service_is_not_bookable(
    db: Backend, clock: FrozenClock
) -> None:
    windows = [WindowSpec(time(10, 0), time(11, 30), {ServiceType.REPAIR: 1})]
    shop = await make_workshop(windows=windows)
    with pytest.raises(DayNotBookable):
        await book_for(shop, service=ServiceType.BODYWORK, now=clock.now())


async def test_lowering_capacity_below_the_bookings_refuses_more(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop(places=2)
    _, second_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    _, third_car = await factories.customer_with_car(shop.store, phone="13700000002", plate="粤B54322")
    first = (await book_for(shop, now=clock.now())).appointment
    await book_for(shop, vehicle=second_car, now=clock.now())
    await capacity.set_windows(shop.store.id, [TUESDAY.weekday()], standard_windows(1))
    # place 1 free again, place 2 still held
    await appointments.cancel(first.id, now=clock.now(), notifier=notifier())

    with pytest.raises(SlotFull):
        await book_for(shop, vehicle=third_car, now=clock.now())


async def test_someone_elses_vehicle_cannot_be_booked(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    stranger = await Customer.create(name="王女士", phone="13700000009")
    with pytest.raises(VehicleNotFound):
        await appointments.book(
            appointments.BookingRequest(
                customer_id=stranger.id,
                vehicle_id=shop.vehicle.id,
                store_id=shop.store.id,
                service_type=ServiceType.MAINTENANCE,
                day=TUESDAY,
                window_id=await window_id(shop.store, TUESDAY, time(10, 0)),
            ),
            now=clock.now(),
            notifier=notifier(),
        )
    booking = (await book_for(shop, now=clock.now())).appointment
    with pytest.raises(AppointmentNotFound):
        await appointments.cancel(booking.id, now=clock.now(), notifier=notifier(), customer_id=stranger.id)
    assert await appointments.upcoming_for(stranger.id, now=clock.now()) == []


async def test_started_or_closed_bookings_cannot_change(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    booking = (await book_for(shop, MONDAY, time(10, 0), now=clock.now())).appointment
    with pytest.raises(AppointmentClosed):
        await appointments.mark_no_show(booking.id, now=clock.now())  # not started yet

    clock.advance(hours=1, minutes=5)  # 10:05
    with pytest.raises(AppointmentClosed):
        await appointments.cancel(booking.id, now=clock.now(), notifier=notifier())
    assert (await appointments.mark_no_show(booking.id, now=clock.now())).status is AppointmentStatus.NO_SHOW
    with pytest.raises(AppointmentClosed):
        await appointments.mark_arrived(booking.id, now=clock.now())


async def test_day_sheet_lists_the_days_bookings_but_not_cancelled_ones(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    _, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    kept = (await book_for(shop, TUESDAY, time(13, 30), now=clock.now())).appointment
    dropped = (await book_for(shop, TUESDAY, time(10, 0), vehicle=other_car, now=clock.now())).appointment
    await appointments.cancel(dropped.id, now=clock.now(), notifier=notifier())

    sheet = await appointments.day_sheet(shop.store.id, TUESDAY, advisor_id=shop.advisor.id)

    assert [a.id for a in sheet] == [kept.id]
    assert sheet[0].vehicle.plate == "粤B12345"


async def test_closing_a_day_returns_its_bookings_and_reopening_allows_them_again(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    booking = (await book_for(shop, now=clock.now())).appointment

    affected = await capacity.close_day(shop.store.id, TUESDAY, "设备检修")
    await capacity.close_day(shop.store.id, TUESDAY, "设备检修（延长）")  # closing twice is fine

    assert [a.id for a in affected] == [booking.id]
    assert [d.reason for d in await capacity.closed_days(shop.store.id, MONDAY)] == ["设备检修（延长）"]
    assert await capacity.reopen_day(shop.store.id, TUESDAY) is True
    assert (await book_for(shop, starts=time(13, 30), now=clock.now())).created


@pytest.mark.parametrize(
    ("windows", "problem"),
    [
        ([WindowSpec(time(10, 0), time(9, 0), every_service(1))], "ends before it starts"),
        (
            [WindowSpec(time(8, 0), time(10, 0)), WindowSpec(time(9, 30), time(11, 0))],
            "overlap",
        ),
        ([WindowSpec(time(8, 0), time(10, 0), {ServiceType.REPAIR: -1})], "capacity for 一般维修"),
        ([WindowSpec(time(8, 0), time(10, 0), off_peak_bonus=-5)], "negative off-peak bonus"),
    ],
)
async def test_bad_capacity_settings_are_refused_and_change_nothing(
    db: Backend, windows: list[WindowSpec], problem: str
) -> None:
    shop = await make_workshop()
    before = len(await capacity.week_of(shop.store.id))
    with pytest.raises(CapacityConfigError, match=problem):
        await capacity.set_windows(shop.store.id, [0], windows)
    assert len(await capacity.week_of(shop.store.id)) == before
