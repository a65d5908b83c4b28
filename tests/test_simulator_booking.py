"""A whole booking in the chat simulator page, in headless Chromium against the demo stack: bind,
book through the menu by typing numbers, then reschedule and cancel under 我的预约, checking the
database after each step. The demo's stores take bookings Monday to Saturday; days and slots are
picked by their numbers, so the test holds whatever day it runs on."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from bot.demo import data
from bot.demo.runner import DemoStack
from bot.models import AppointmentStatus, SlotPlace
from bot.models.booking import Appointment
from tests import test_demo
from tests.browser import screenshot_path
from tests.test_simulator_page import _bot_says, _menu, _open, _type

pytestmark = pytest.mark.browser
demo_database, stack = test_demo.demo_database, test_demo.stack  # the demo stack fixtures, shared

WANG = data.CUSTOMERS[1]  # 王芳: bound by this test, and without a booking in the demo data
PLATE = WANG.vehicles[0].plate


def latest(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".row.bot .bubble").last


async def answer(page: Page, text: str, expected: str) -> None:
    """Type `text` and wait for the bot's reply saying `expected`."""
    replies = await page.locator(".row.bot .bubble").count()
    await _type(page, text)
    await expect(page.locator(".row.bot .bubble")).to_have_count(replies + 1)
    await expect(latest(page)).to_contain_text(expected)


async def tap(page: Page, top: str, entry: str, expected: str) -> None:
    """Tap a menu entry (switching from the keyboard to the menu) and wait for the reply."""
    replies = await page.locator(".row.bot .bubble").count()
    await page.get_by_role("button", name="切换到菜单").click()
    await _menu(page, top, entry)
    await expect(page.locator(".row.bot .bubble")).to_have_count(replies + 1)
    await expect(latest(page)).to_contain_text(expected)
    await page.get_by_role("button", name="切换到键盘").click()


async def bookings() -> list[Appointment]:
    return await Appointment.filter(vehicle__plate=PLATE).order_by("id")


async def test_book_reschedule_and_cancel_in_the_simulator(phone: BrowserContext, stack: DemoStack) -> None:
    page, problems = await _open(phone, stack)
    await page.get_by_role("button", name=WANG.name).click()
    await _menu(page, "我的", "绑定车辆")
    await expect(_bot_says(page, "手机号")).to_be_visible()
    await page.get_by_role("button", name="切换到键盘").click()
    await answer(page, WANG.phone, "车牌号")
    await answer(page, PLATE, "绑定成功")

    await tap(page, "预约维修", "预约保养", "请选择预约的门店")
    await expect(latest(page)).to_contain_text("1. 深圳福田4S店")  # her own store first
    await answer(page, "1", "请选择服务类型")
    await answer(page, "2", "请选择到店日期")  # 2. 定期保养
    await answer(page, "1", "可预约的时段")
    await answer(page, "1", "请确认预约信息")
    await expect(latest(page)).to_contain_text("服务：定期保养")
    await page.screenshot(path=screenshot_path("simulator-booking-summary-phone"))
    await answer(page, "确认", "预约成功！预约号：")

    [booked] = await bookings()
    assert booked.status is AppointmentStatus.BOOKED and booked.service_type.label == "定期保养"
    await expect(latest(page)).to_contain_text(f"预约号：{booked.number}")
    await page.screenshot(path=screenshot_path("simulator-booking-booked-phone"))

    await tap(page, "预约维修", "我的预约", "您有 1 个待到店的预约")
    await answer(page, "1", f"预约号：{booked.number}")
    await answer(page, "1", "请选择新的到店日期")  # 1. 改期
    await answer(page, "2", "可预约的时段")  # the second day offered: not the booked one
    await answer(page, "1", "请确认改期后的预约信息")
    await answer(page, "确认", f"改期成功！预约号 {booked.number} 已改到")

    [moved] = await bookings()
    assert moved.id == booked.id and moved.status is AppointmentStatus.BOOKED
    assert moved.day > booked.day
    [place] = await SlotPlace.filter(appointment_id=moved.id)
    assert place.day == moved.day  # the old day's place was freed
    await page.screenshot(path=screenshot_path("simulator-booking-moved-phone"))

    await tap(page, "预约维修", "我的预约", "您有 1 个待到店的预约")
    await answer(page, "1", f"预约号：{booked.number}")
    await answer(page, "2", "确定取消")  # 2. 取消预约
    await answer(page, "确认", f"已取消预约 {booked.number}")

    [cancelled] = await bookings()
    assert cancelled.status is AppointmentStatus.CANCELLED and cancelled.cancelled_at is not None
    assert not await SlotPlace.filter(appointment_id=cancelled.id).exists()
    await tap(page, "预约维修", "我的预约", "没有待到店的预约")
    await page.screenshot(path=screenshot_path("simulator-booking-cancelled-phone"))
    assert problems == [] and await page.locator(".note.error").count() == 0
