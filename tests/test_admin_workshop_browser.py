"""The workshop pages in headless Chromium at desktop and phone (390x844) sizes: an advisor marks
a booked customer arrived, moves the work order a stage, sets the ETA and adds a 增项; a manager
edits the booking windows. Every page is screenshotted (screenshots/admin-workshop-*.png)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, expect

from bot.models import AppointmentStatus, ExtraItem, SlotWindow, WorkOrder, WorkStage
from bot.models.booking import Appointment
from bot.services.workorders import extras, orders
from bot.services.workorders.orders import DMS
from tests.browser import PHONE, screenshot_path
from tests.conftest import Bot
from tests.test_admin_browser import Admin
from tests.test_admin_workshop import shop_of, workshop_team
from tests.test_booking_support import MONDAY, TZ, book_for, notifier

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


@pytest_asyncio.fixture
async def workshop(bot: Bot) -> AsyncIterator[Admin]:
    """The team with store A taking bookings: the advisor's customer booked at 10:00 today, and a
    colleague's car already in the workshop with a 增项 waiting for its customer."""
    team = await workshop_team(bot)
    now = bot.clock.now()
    await book_for(await shop_of(team), MONDAY, time(10, 0), now=now)
    await book_for(await shop_of(team, colleague=True), MONDAY, time(13, 30), now=now)
    theirs = (await orders.open_for_plate("粤B22222", author=DMS, now=now, tz=TZ, number="RO-0815")).order
    await orders.change_stage(theirs.id, WorkStage.DIAGNOSING, author=DMS, now=now, notifier=notifier())
    await extras.add_extra_item(
        theirs.id,
        description="空调滤芯脏污，建议更换",
        parts_price="120",
        labour_price="30",
        author=DMS,
        now=now,
        notifier=notifier(),
    )
    helper = Admin(bot, team, [])
    yield helper
    assert not helper.problems, helper.problems


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=screenshot_path(f"admin-workshop-{name}"), full_page=True)


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone ({width}px)"


async def open_nav(page: Page, label: str, *, phone: bool) -> None:
    if phone:
        await page.click(".nav-toggle")
    await page.click(f".nav-links a:has-text('{label}')")


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_an_advisor_receives_a_booked_car_and_works_its_order(
    workshop: Admin, size: str, desktop: BrowserContext, phone: BrowserContext
) -> None:
    on_phone = size == "phone"
    page = await workshop.open(phone if on_phone else desktop)
    await workshop.log_in(page, "advisor")

    await open_nav(page, "预约", phone=on_phone)
    await expect(page.locator("h1")).to_contain_text("今日预约")
    await expect(page.locator("tbody tr")).to_have_count(1)  # the colleague's customer is not listed
    await shot(page, f"appointments-{size}")
    if on_phone:
        await no_sideways_scroll(page)

    await page.get_by_role("button", name="到店接车").click()
    await expect(page.locator(".flash-success")).to_contain_text("已到店，工单")
    order = await WorkOrder.get(customer_id=workshop.team.my_customer.id)
    assert (await Appointment.get(id=order.appointment_id)).status is AppointmentStatus.FULFILLED  # type: ignore[attr-defined]
    await expect(page.get_by_role("button", name="维修中")).to_have_count(0)  # not a next stage yet

    await page.get_by_role("button", name="诊断中").click()
    await expect(page.locator(".flash-success")).to_contain_text("已变更为「诊断中」")
    await expect(page.get_by_role("button", name="待料（可跳过）")).to_be_visible()

    await page.fill("#f-eta", "今天下午5点半")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".flash-success")).to_contain_text("预计交车时间已设为 11月23日 17:30")

    await page.fill("#f-description", "前刹车片剩余2mm，建议更换")
    await page.fill("#f-parts_price", "4OO")  # a typo: the letter O
    await page.fill("#f-labour_price", "80")
    await page.get_by_role("button", name="添加并推送给客户").click()
    await expect(page.locator("#e-parts_price")).to_contain_text("配件费应为金额")
    assert await ExtraItem.filter(work_order_id=order.id).count() == 0
    await shot(page, f"extra-error-{size}")
    await page.fill("#f-parts_price", "400")
    await page.get_by_role("button", name="添加并推送给客户").click()
    await expect(page.locator(".flash-success")).to_contain_text("已推送给客户确认")
    await expect(page.locator("#extras")).to_contain_text("待客户确认")
    await expect(page.locator("#extras")).to_contain_text("¥480.00")
    await shot(page, f"order-{size}")
    if on_phone:
        await no_sideways_scroll(page)

    order = await WorkOrder.get(id=order.id)
    assert order.stage is WorkStage.DIAGNOSING and order.eta is not None
    [change_by_page] = [c for c in await orders.timeline(order.id) if c.to_stage is WorkStage.DIAGNOSING]
    assert change_by_page.staff_id == workshop.team.advisor.id  # type: ignore[attr-defined]

    await open_nav(page, "工单", phone=on_phone)
    await expect(page.locator("tbody tr")).to_have_count(1)
    await shot(page, f"orders-{size}")
    await page.get_by_role("link", name="待确认增项").click()
    await expect(page.locator("tbody")).to_contain_text("前刹车片剩余2mm")
    await expect(page.locator("tbody")).not_to_contain_text("空调滤芯")  # the colleague's customer
    await shot(page, f"pending-{size}")
    if on_phone:
        await no_sideways_scroll(page)


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_a_manager_sees_the_store_and_edits_booking_windows(
    workshop: Admin, size: str, desktop: BrowserContext, phone: BrowserContext
) -> None:
    on_phone = size == "phone"
    page = await workshop.open(phone if on_phone else desktop)
    await workshop.log_in(page, "service_manager")

    await open_nav(page, "预约", phone=on_phone)
    await expect(page.locator("tbody tr")).to_have_count(2)
    await shot(page, f"appointments-manager-{size}")
    await open_nav(page, "工单", phone=on_phone)
    await shot(page, f"orders-manager-{size}")
    await page.click("a:has-text('RO-0815')")
    await shot(page, f"order-manager-{size}")

    await open_nav(page, "预约设置", phone=on_phone)
    await expect(page.locator("h1")).to_contain_text("预约设置：深圳福田4S店")
    await shot(page, f"capacity-{size}")
    if on_phone:
        await no_sideways_scroll(page)
    await page.get_by_role("link", name="设置时段").click()  # Sunday takes no bookings yet
    await page.fill("[name=start_0]", "09:00")
    await page.fill("[name=end_0]", "08:00")
    await page.fill("[name=cap_0_maintenance]", "2")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".error")).to_contain_text("结束时间应晚于开始时间")
    await shot(page, f"capacity-windows-error-{size}")
    if on_phone:
        await no_sideways_scroll(page)
    await page.fill("[name=end_0]", "12:00")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".flash-success")).to_contain_text("已保存周日的预约时段：1 个时段")
    assert await SlotWindow.filter(store_id=workshop.team.store.id, weekday=6).count() == 1

    await page.fill("#f-day", "11月24日")
    await page.fill("#f-reason", "盘点")
    await page.get_by_role("button", name="设为不接受预约").click()
    await expect(page.locator(".flash-success")).to_contain_text("11月24日（周二）已设为不接受预约")
    await shot(page, f"capacity-closed-{size}")
    if on_phone:
        await no_sideways_scroll(page)


async def test_the_gm_filters_the_day_by_store_and_only_reads(
    workshop: Admin, desktop: BrowserContext
) -> None:
    page = await workshop.open(desktop)
    await workshop.log_in(page, "gm")

    await page.click(".nav-links a:has-text('预约')")
    await expect(page.locator("tbody tr")).to_have_count(2)
    await expect(page.get_by_role("button", name="到店接车")).to_have_count(0)
    await page.select_option("select[name=store]", label="广州天河4S店")
    await page.get_by_role("button", name="筛选").click()
    await expect(page.locator(".empty")).to_contain_text("这一天没有预约")
    await page.select_option("select[name=store]", label="深圳福田4S店")
    await page.get_by_role("button", name="筛选").click()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await shot(page, "appointments-gm-desktop")
    await page.click(".nav-links a:has-text('工单')")
    await expect(page.locator("form[action*='/stage']")).to_have_count(0)
    await shot(page, "orders-gm-desktop")
