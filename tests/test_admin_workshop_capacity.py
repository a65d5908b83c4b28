"""The store booking settings page over real HTTP, on both backends: weekly windows with places
per service type and off-peak bonus, closed days with the bookings on them, store scopes."""

from __future__ import annotations

from datetime import time

from bot.models import ClosedDay, ServiceType, SlotWindow
from bot.services.booking import availability, capacity
from bot.services.booking.errors import Unbookable
from tests.conftest import Bot
from tests.test_admin_support import make_team
from tests.test_admin_workshop import after, as_staff, post, shop_of, workshop_team
from tests.test_booking_support import TUESDAY, TZ, book_for


async def windows_of(store_id: int) -> list[tuple[int, str, str, int, dict[str, int]]]:
    return [
        (
            w.weekday,
            f"{w.starts:%H:%M}",
            f"{w.ends:%H:%M}",
            w.off_peak_bonus,
            {c.service_type.value: c.capacity for c in w.capacities},
        )
        for w in await capacity.week_of(store_id)
    ]


async def test_a_manager_sets_sunday_windows_for_their_store(bot: Bot) -> None:
    team = await workshop_team(bot)
    await as_staff(bot.client, "service_manager")

    home = await bot.client.get("/admin/capacity", allow_redirects=False)
    form = await (await bot.client.get(f"/admin/capacity/{team.store.id}/windows?day=6")).text()
    saved = await post(
        bot.client,
        f"/admin/capacity/{team.store.id}/windows",
        {
            "weekday_6": "on",
            "start_0": "9:00",
            "end_0": "12:00",
            "cap_0_maintenance": "2",
            "cap_0_repair": "1",
            "bonus_0": "30",
        },
        page=f"/admin/capacity/{team.store.id}/windows?day=6",
    )
    overview = await after(bot.client, saved)

    assert home.headers["Location"] == f"/admin/capacity/{team.store.id}"
    assert 'name="weekday_6" checked' in form and 'name="weekday_0" checked' not in form
    sunday = [w for w in await windows_of(team.store.id) if w[0] == 6]
    assert sunday == [(6, "09:00", "12:00", 30, {"maintenance": 2, "repair": 1})]
    assert len(await windows_of(team.store.id)) == 4 * 6 + 1  # Monday to Saturday unchanged
    assert "已保存周日的预约时段：1 个时段" in overview
    assert "周一至周六" in overview and "09:00-12:00" in overview and "+30" in overview


async def test_bad_windows_are_explained_in_chinese_and_nothing_changes(bot: Bot) -> None:
    team = await workshop_team(bot)
    before = await windows_of(team.store.id)
    await as_staff(bot.client, "service_manager")
    path = f"/admin/capacity/{team.store.id}/windows"

    answer = await post(
        bot.client,
        path,
        {
            "weekday_0": "on",
            "start_0": "10:00",
            "end_0": "09:00",
            "cap_0_maintenance": "2",
            "start_1": "13:00",
            "end_1": "15:00",
            "cap_1_maintenance": "abc",
            "start_2": "14:00",
            "end_2": "16:00",
            "cap_2_repair": "100",
            "start_3": "17:00",
            "end_3": "18:00",
            "start_4": "18:00",
            "end_4": "19:00",
            "cap_4_warranty": "1",
            "bonus_4": "-5",
        },
        page=path,
    )
    page = await answer.text()
    nothing_ticked = await post(bot.client, path, {"start_0": "08:00", "end_0": "09:00"}, page=path)

    assert answer.status == 422
    assert "第1个时段：结束时间应晚于开始时间" in page
    assert "第2个时段：名额应为 0 到 99 的整数" in page
    assert "第3个时段：名额应为 0 到 99 的整数" in page
    assert "第4个时段：该时段至少要有一类服务的名额" in page
    assert "第5个时段：错峰积分应为 0 到 10000 的整数" in page
    assert 'value="abc"' in page  # what was typed is kept
    assert nothing_ticked.status == 422 and "请至少选择一天" in await nothing_ticked.text()
    assert await windows_of(team.store.id) == before


async def test_overlapping_windows_are_refused(bot: Bot) -> None:
    team = await workshop_team(bot)
    await as_staff(bot.client, "admin")
    path = f"/admin/capacity/{team.store.id}/windows"
    answer = await post(
        bot.client,
        path,
        {
            "weekday_6": "on",
            "start_0": "08:00",
            "end_0": "10:00",
            "cap_0_maintenance": "1",
            "start_1": "09:30",
            "end_1": "11:00",
            "cap_1_maintenance": "1",
        },
        page=path,
    )
    assert answer.status == 422 and "第2个时段：与 08:00-10:00 时段重叠" in await answer.text()
    assert not await SlotWindow.filter(store_id=team.store.id, weekday=6).exists()


async def test_closing_a_day_lists_its_bookings_and_reopening_takes_bookings_again(bot: Bot) -> None:
    team = await workshop_team(bot)
    await book_for(await shop_of(team), TUESDAY, time(10, 0), now=bot.clock.now())
    await as_staff(bot.client, "aftersales_manager")
    page = f"/admin/capacity/{team.store.id}"

    vague = await post(bot.client, f"{page}/closed-days", {"day": "上周五", "reason": ""}, page=page)
    past = await post(bot.client, f"{page}/closed-days", {"day": "2026-11-20", "reason": ""}, page=page)
    closed = await post(bot.client, f"{page}/closed-days", {"day": "11月24日", "reason": "盘点"}, page=page)
    overview = await after(bot.client, closed)
    offer = await availability.day_offer(
        team.store.id, ServiceType.MAINTENANCE, TUESDAY, now=bot.clock.now(), tz=TZ
    )

    for refused in (vague, past):
        assert refused.status == 422 and "请填写今天或以后的具体日期" in await refused.text()
    assert "11月24日（周二）已设为不接受预约。该日已有 1 个预约" in overview
    assert "盘点" in overview and "粤B12345" in overview and "13812345678" in overview
    assert offer.problem is Unbookable.CLOSED

    reopened = await after(
        bot.client, await post(bot.client, f"{page}/closed-days/2026-11-24/reopen", {}, page=page)
    )
    assert "11月24日（周二）恢复接受预约" in reopened
    assert not await ClosedDay.filter(store_id=team.store.id).exists()  # the refused days were never closed


async def test_capacity_is_for_managers_of_the_store_and_group_wide_roles(bot: Bot) -> None:
    team = await make_team()
    await as_staff(bot.client, "advisor")
    advisor = await bot.client.get("/admin/capacity")
    await as_staff(bot.client, "service_manager")
    other_store = await bot.client.get(f"/admin/capacity/{team.other_store.id}")
    other_save = await post(
        bot.client,
        f"/admin/capacity/{team.other_store.id}/windows",
        {"weekday_0": "on", "start_0": "08:00", "end_0": "09:00", "cap_0_maintenance": "1"},
        page=f"/admin/capacity/{team.store.id}",
    )
    await as_staff(bot.client, "gm")
    stores = await (await bot.client.get("/admin/capacity")).text()

    assert advisor.status == 403
    assert other_store.status == 404 and other_save.status == 404
    assert not await SlotWindow.filter(store_id=team.other_store.id).exists()
    assert "广州天河4S店" in stores and "深圳福田4S店" in stores and "未设置，不接受在线预约" in stores
