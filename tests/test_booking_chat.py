"""BOOK and MY_BOOKINGS end to end through `/wechat`, on both backends."""

from __future__ import annotations

from datetime import time

from bot.models import Appointment, AppointmentStatus, Outbox, ServiceType, SlotPlace, Vehicle
from bot.services import staff_binding
from bot.services.booking import appointments, capacity
from tests import factories
from tests.conftest import Bot
from tests.test_booking_support import (
    ADVISOR_OPENID,
    CUSTOMER_OPENID,
    TUESDAY,
    bind,
    book_for,
    make_workshop,
    standard_windows,
)


async def test_a_full_booking_conversation(bot: Bot) -> None:
    shop = await make_workshop()
    user = bot.user(CUSTOMER_OPENID)

    services = await user.click("BOOK")  # one store, one car: straight to the service type
    days = await user.text("定期")
    slots = await user.text("明天")
    summary = await user.text("4")
    booked = await user.text("确认")

    assert "1. 首保" in services.text and "2. 定期保养" in services.text
    assert "1. 11月23日（周一）" in days.text and "2. 11月24日（周二）" in days.text
    assert "11月24日（周二）可预约的时段" in slots.text
    assert "4. 15:00-16:30（错峰 +50积分）" in slots.text
    assert "粤B12345" in summary.text and "定期保养" in summary.text and "15:00-16:30" in summary.text
    appointment = await Appointment.get(customer_id=shop.customer.id)
    assert f"预约号：{appointment.number}" in booked.text and "50 积分" in booked.text
    assert (appointment.day, appointment.starts, appointment.status) == (
        TUESDAY,
        time(15, 0),
        AppointmentStatus.BOOKED,
    )
    assert await Outbox.filter(openid=ADVISOR_OPENID, template_name="booking_created").count() == 1


async def test_several_stores_and_cars_are_chosen_by_number(bot: Bot) -> None:
    shop = await make_workshop()
    nanshan = await factories.store(code="SZ02", name="深圳南山4S店")
    await capacity.set_windows(nanshan.id, range(7), standard_windows(1))
    second_car = await Vehicle.create(customer=shop.customer, plate="粤BD12345", model_name="e:NP1")
    await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")  # not theirs
    user = bot.user(CUSTOMER_OPENID)

    stores = await user.click("BOOK")
    cars = await user.text("2")
    await user.text("粤BD12345")
    await user.text("钣金")
    await user.text("1")
    await user.text("1")
    await user.text("确认")

    assert "1. 深圳福田4S店" in stores.text and "2. 深圳南山4S店" in stores.text  # their own store first
    assert "1. 粤B12345 雅阁" in cars.text and "2. 粤BD12345 e:NP1" in cars.text
    assert "粤B54321" not in cars.text
    booking = await Appointment.get(customer_id=shop.customer.id)
    assert (booking.store_id, booking.vehicle_id, booking.service_type) == (  # type: ignore[attr-defined]
        nanshan.id,
        second_car.id,
        ServiceType.BODYWORK,
    )


async def test_a_day_and_time_typed_in_chinese_go_straight_to_the_summary(bot: Bot) -> None:
    await make_workshop()
    user = bot.user(CUSTOMER_OPENID)
    await user.click("BOOK")
    await user.text("1")  # 首保

    summary = await user.text("明天上午10点半")

    assert "请确认预约信息" in summary.text and "10:00-11:30" in summary.text


async def test_closed_and_unreadable_days_are_reasked_with_the_next_bookable_days(bot: Bot) -> None:
    await make_workshop()
    user = bot.user(CUSTOMER_OPENID)
    await user.click("BOOK")
    await user.text("一般维修")

    sunday = await user.text("周日")
    nonsense = await user.text("下辈子吧")
    slots = await user.text("周二下午")

    assert "没有可预约的时段" in sunday.text and "1. 11月23日（周一）" in sunday.text
    assert "没能识别这个日期" in nonsense.text
    assert "1. 13:30-15:00" in slots.text and "10:00" not in slots.text  # the afternoon, as asked


async def test_leaving_at_the_summary_leaves_nothing_behind(bot: Bot) -> None:
    await make_workshop()
    user = bot.user(CUSTOMER_OPENID)
    await user.click("BOOK")
    await user.text("1")
    await user.text("明天")
    await user.text("1")

    left = await user.text("3")

    assert "没有提交" in left.text
    assert await Appointment.all().count() == 0 and await SlotPlace.all().count() == 0
    assert await Outbox.all().count() == 0


async def test_a_repeated_confirmation_books_once(bot: Bot) -> None:
    await make_workshop()
    user = bot.user(CUSTOMER_OPENID)
    await user.click("BOOK")
    await user.text("1")
    await user.text("明天")
    await user.text("1")

    first = await user.text("是", msg_id=777)
    retried = await user.text("是", msg_id=777)  # WeChat's retry of the same message
    again = await user.text("确认")  # the customer taps again after it is done

    assert first.text == retried.text and "预约成功" in first.text
    assert "预约成功" not in again.text
    assert await Appointment.all().count() == 1


async def test_a_slot_that_fills_before_confirmation_is_offered_again(bot: Bot) -> None:
    shop = await make_workshop(places=1)
    _, rival_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    user = bot.user(CUSTOMER_OPENID)
    await user.click("BOOK")
    await user.text("1")
    await user.text("明天")
    await user.text("2")  # 10:00-11:30
    await book_for(
        shop, TUESDAY, time(10, 0), vehicle=rival_car, service=ServiceType.FIRST_SERVICE, now=bot.clock.now()
    )

    answer = await user.text("确认")

    assert "刚刚约满" in answer.text and "10:00-11:30" not in answer.text
    assert "08:30-10:00" in (await user.text("1")).text  # 08:30 is still free
    assert "预约成功" in (await user.text("确认")).text
    assert await Appointment.filter(customer_id=shop.customer.id).count() == 1


async def test_an_unbound_customer_is_sent_to_bind_first(bot: Bot) -> None:
    await make_workshop(bound=False)
    answer = await bot.user("o-stranger").click("BOOK")
    assert "绑定" in answer.text
    assert "绑定" in (await bot.user("o-stranger").click("MY_BOOKINGS")).text


async def test_my_bookings_reschedules_from_the_day_step(bot: Bot) -> None:
    shop = await make_workshop(places=1)
    booking = (await book_for(shop, TUESDAY, time(10, 0), now=bot.clock.now())).appointment
    user = bot.user(CUSTOMER_OPENID)

    listed = await user.click("MY_BOOKINGS")
    detail = await user.text("1")
    days = await user.text("改期")
    slots = await user.text("11月25日")
    summary = await user.text("1")
    moved = await user.text("确认", msg_id=901)
    retried = await user.text("确认", msg_id=901)  # WeChat's retry of the same message

    assert "11月24日（周二） 10:00-11:30 定期保养 粤B12345" in listed.text
    assert f"预约号：{booking.number}" in detail.text and "1. 改期" in detail.text
    assert "新的到店日期" in days.text and "08:30-10:00" in slots.text
    assert "改期后的预约信息" in summary.text
    assert f"改期成功！预约号 {booking.number}" in moved.text and retried.text == moved.text
    moved_booking = await Appointment.get(id=booking.id)
    assert (moved_booking.day.day, moved_booking.starts) == (25, time(8, 30))
    assert await SlotPlace.filter(day=TUESDAY).count() == 0  # the old place is free
    [told] = await Outbox.filter(openid=ADVISOR_OPENID, template_name="booking_moved")
    assert told.text.startswith(f"预约改期 {booking.number}")
    assert "新时间：11月25日（周三） 08:30-10:00\n原时间：11月24日（周二） 10:00-11:30" in told.text


async def test_my_bookings_cancels_after_confirmation(bot: Bot) -> None:
    shop = await make_workshop(places=1)
    booking = (await book_for(shop, now=bot.clock.now())).appointment
    user = bot.user(CUSTOMER_OPENID)
    await user.click("MY_BOOKINGS")
    await user.text("1")

    question = await user.text("取消预约")
    kept = await user.text("2")

    assert "确定取消" in question.text and "保持不变" in kept.text
    assert (await Appointment.get(id=booking.id)).status is AppointmentStatus.BOOKED

    await user.text("我的预约")
    await user.text("1")
    await user.text("2")
    cancelled = await user.text("确认", msg_id=902)
    retried = await user.text("确认", msg_id=902)  # WeChat's retry of the same message

    assert "已取消预约" in cancelled.text and retried.text == cancelled.text
    assert (await Appointment.get(id=booking.id)).status is AppointmentStatus.CANCELLED
    assert await SlotPlace.all().count() == 0
    [told] = await Outbox.filter(openid=ADVISOR_OPENID, template_name="booking_cancelled")
    assert told.text.startswith(f"预约取消 {booking.number}") and "11月24日（周二） 10:00-11:30" in told.text
    assert "没有待到店的预约" in (await user.click("MY_BOOKINGS")).text


async def test_an_advisor_without_wechat_is_told_nothing_but_sees_the_change_on_the_day_sheet(
    bot: Bot,
) -> None:
    shop = await make_workshop()
    await staff_binding.unbind(shop.advisor)
    moving = (await book_for(shop, TUESDAY, time(10, 0), now=bot.clock.now())).appointment
    dropping = (await book_for(shop, TUESDAY, time(13, 30), now=bot.clock.now())).appointment
    user = bot.user(CUSTOMER_OPENID)

    for step in ("我的预约", "1", "改期", "11月24日", "1", "确认", "我的预约", "2", "取消预约", "确认"):
        await user.text(step)

    assert await Outbox.all().count() == 0
    sheet = await appointments.day_sheet(shop.store.id, TUESDAY, advisor_id=shop.advisor.id)
    assert [(a.id, a.starts) for a in sheet] == [(moving.id, time(8, 30))]
    assert (await Appointment.get(id=dropping.id)).status is AppointmentStatus.CANCELLED


async def test_another_customers_booking_is_never_listed(bot: Bot) -> None:
    shop = await make_workshop()
    other, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    await bind("o-other", other)
    await book_for(shop, vehicle=other_car, now=bot.clock.now())

    answer = await bot.user(CUSTOMER_OPENID).click("MY_BOOKINGS")

    assert "没有待到店的预约" in answer.text and "粤B54321" not in answer.text
