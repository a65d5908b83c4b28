"""The advisor's workshop pages over real HTTP, on both backends: today's appointments with
arrival and no-show, work orders with stage buttons, ETA and 增项, pending 增项; scopes, CSRF and
Chinese refusals that change nothing."""

from __future__ import annotations

from datetime import time

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from bot.models import (
    Appointment,
    AppointmentStatus,
    ChangeSource,
    ExtraItem,
    ExtraItemStatus,
    Outbox,
    StageChange,
    Vehicle,
    WorkOrder,
    WorkStage,
)
from bot.services.booking import capacity
from bot.services.workorders import orders
from bot.services.workorders.orders import DMS
from tests.conftest import Bot
from tests.test_admin_support import Team, csrf_in, log_in, make_team
from tests.test_booking_support import (
    MONDAY,
    TZ,
    WEEKDAYS,
    Workshop,
    at,
    bind,
    book_for,
    notifier,
    standard_windows,
)

S = WorkStage


async def workshop_team(bot: Bot) -> Team:
    """The admin team, with store A open for bookings and the advisor's customer bound on WeChat."""
    team = await make_team()
    await capacity.set_windows(team.store.id, WEEKDAYS, standard_windows())
    await bind("o-my-customer", team.my_customer)
    return team


async def shop_of(team: Team, *, colleague: bool = False) -> Workshop:
    """The booking helpers' view of the team: store A, an advisor, their customer and car."""
    customer = team.colleague_customer if colleague else team.my_customer
    advisor = team.colleague if colleague else team.advisor
    return Workshop(team.store, advisor, customer, await Vehicle.get(customer_id=customer.id))


async def as_staff(client: TestClient, login: str) -> None:
    client.session.cookie_jar.clear()
    assert (await log_in(client, login)).status == 303, login


async def post(client: TestClient, path: str, data: dict[str, str], *, page: str) -> ClientResponse:
    """Submit a form the way the browser does: with the CSRF token of the page it is on."""
    token = csrf_in(await (await client.get(page)).text())
    return await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)


async def after(client: TestClient, response: ClientResponse) -> str:
    """The page a form's redirect leads to (with its flash message)."""
    assert response.status == 303, await response.text()
    return await (await client.get(response.headers["Location"])).text()


async def open_order(team: Team, bot: Bot) -> WorkOrder:
    return (await orders.open_for_plate("粤B12345", author=DMS, now=bot.clock.now(), tz=TZ)).order


# --- today's appointments -------------------------------------------------------------------


async def test_advisors_see_their_customers_bookings_and_managers_the_stores(bot: Bot) -> None:
    team = await workshop_team(bot)
    await book_for(await shop_of(team), MONDAY, time(10, 0), now=bot.clock.now())
    await book_for(await shop_of(team, colleague=True), MONDAY, time(13, 30), now=bot.clock.now())

    await as_staff(bot.client, "advisor")
    mine = await (await bot.client.get("/admin/appointments")).text()
    await as_staff(bot.client, "service_manager")
    store = await (await bot.client.get("/admin/appointments")).text()
    await as_staff(bot.client, "advisor-b")
    other_store = await (await bot.client.get("/admin/appointments")).text()

    assert "今日预约" in mine and "粤B12345" in mine and "粤B22222" not in mine
    assert "到店接车" in mine and "10:00-11:30" in mine
    assert "粤B12345" in store and "粤B22222" in store and "周顾问" in store
    assert "粤B12345" not in other_store and "这一天没有预约" in other_store


async def test_arrival_opens_the_work_order_and_fulfils_the_booking_once(bot: Bot) -> None:
    team = await workshop_team(bot)
    booking = (await book_for(await shop_of(team), MONDAY, time(10, 0), now=bot.clock.now())).appointment
    await as_staff(bot.client, "advisor")

    arrived = await post(
        bot.client, f"/admin/appointments/{booking.id}/arrived", {}, page="/admin/appointments"
    )
    page = await after(bot.client, arrived)
    again = await post(
        bot.client, f"/admin/appointments/{booking.id}/arrived", {}, page="/admin/appointments"
    )

    order = await WorkOrder.get(customer_id=team.my_customer.id)
    assert arrived.headers["Location"] == again.headers["Location"] == f"/admin/work-orders/{order.id}"
    assert f"已到店，工单 {order.number}（已接车）" in page
    assert (order.stage, order.appointment_id) == (S.RECEIVED, booking.id)  # type: ignore[attr-defined]
    assert (await Appointment.get(id=booking.id)).status is AppointmentStatus.FULFILLED
    [opening] = await StageChange.filter(work_order_id=order.id)
    assert (opening.source, opening.staff_id) == (ChangeSource.STAFF, team.advisor.id)  # type: ignore[attr-defined]
    assert await WorkOrder.all().count() == 1


async def test_no_show_is_refused_before_the_booked_time_in_chinese(bot: Bot) -> None:
    team = await workshop_team(bot)
    at(bot.clock, MONDAY, 8)
    early = (await book_for(await shop_of(team), MONDAY, time(8, 30), now=bot.clock.now())).appointment
    later = (
        await book_for(await shop_of(team), MONDAY, time(13, 30), now=bot.clock.now(), request_key="second")
    ).appointment
    at(bot.clock, MONDAY, 9)
    await as_staff(bot.client, "advisor")

    refused = await post(
        bot.client, f"/admin/appointments/{later.id}/no-show", {}, page="/admin/appointments"
    )
    refused_page = await after(bot.client, refused)
    marked = await post(bot.client, f"/admin/appointments/{early.id}/no-show", {}, page="/admin/appointments")
    marked_page = await after(bot.client, marked)

    assert "预约时间开始后才能标记未到店" in refused_page
    assert (await Appointment.get(id=later.id)).status is AppointmentStatus.BOOKED
    assert "标记为未到店" in marked_page
    assert (await Appointment.get(id=early.id)).status is AppointmentStatus.NO_SHOW


async def test_another_advisors_booking_is_not_found_and_unchanged(bot: Bot) -> None:
    team = await workshop_team(bot)
    theirs = (
        await book_for(await shop_of(team, colleague=True), MONDAY, time(10, 0), now=bot.clock.now())
    ).appointment
    await as_staff(bot.client, "advisor")

    answer = await post(
        bot.client, f"/admin/appointments/{theirs.id}/arrived", {}, page="/admin/appointments"
    )

    assert answer.status == 404
    assert (await Appointment.get(id=theirs.id)).status is AppointmentStatus.BOOKED
    assert await WorkOrder.all().count() == 0


# --- work orders ----------------------------------------------------------------------------


async def test_stage_buttons_offer_only_the_next_stages_and_a_jump_is_refused(bot: Bot) -> None:
    team = await workshop_team(bot)
    order = await open_order(team, bot)
    await as_staff(bot.client, "advisor")

    listed = await (await bot.client.get("/admin/work-orders")).text()
    moved = await post(
        bot.client, f"/admin/work-orders/{order.id}/stage", {"stage": "diagnosing"}, page="/admin/work-orders"
    )
    moved_page = await after(bot.client, moved)
    jump = await post(
        bot.client, f"/admin/work-orders/{order.id}/stage", {"stage": "ready"}, page="/admin/work-orders"
    )
    jump_page = await after(bot.client, jump)
    detail = await (await bot.client.get(f"/admin/work-orders/{order.id}")).text()

    assert 'name="stage" value="diagnosing"' in listed and 'value="repairing"' not in listed
    assert "已变更为「诊断中」" in moved_page
    assert 'value="awaiting_parts"' in moved_page and 'value="repairing"' in moved_page
    assert 'value="quality_check"' not in moved_page
    assert "未变更：工单不能变更到所选阶段" in jump_page
    assert (await WorkOrder.get(id=order.id)).stage is S.DIAGNOSING
    assert "已接车 → 诊断中" in detail and "advisor-员工" in detail and "DMS" in detail


async def test_reaching_ready_on_the_page_tells_the_customer_once(bot: Bot) -> None:
    team = await workshop_team(bot)
    order = await open_order(team, bot)
    for stage in (S.DIAGNOSING, S.REPAIRING, S.QUALITY_CHECK):
        await orders.change_stage(order.id, stage, author=DMS, now=bot.clock.now(), notifier=notifier())
    await as_staff(bot.client, "advisor")

    pages = []
    for _ in range(2):  # a double click
        answer = await post(
            bot.client, f"/admin/work-orders/{order.id}/stage", {"stage": "ready"}, page="/admin/work-orders"
        )
        pages.append(await after(bot.client, answer))

    assert "已通知客户提车" in pages[0]
    assert await Outbox.filter(openid="o-my-customer", template_name="workorder_ready").count() == 1
    assert await StageChange.filter(work_order_id=order.id, to_stage=S.READY).count() == 1


async def test_eta_is_read_in_chinese_and_bad_input_changes_nothing(bot: Bot) -> None:
    team = await workshop_team(bot)
    order = await open_order(team, bot)
    await as_staff(bot.client, "advisor")
    path, page = f"/admin/work-orders/{order.id}/eta", f"/admin/work-orders/{order.id}"

    bad = await post(bot.client, path, {"eta": "等会儿"}, page=page)
    bad_page = await bad.text()
    assert bad.status == 422 and "预计交车时间应为以后的日期和时间" in bad_page and "等会儿" in bad_page
    assert (await WorkOrder.get(id=order.id)).eta is None

    saved = await after(bot.client, await post(bot.client, path, {"eta": "今天下午5点半"}, page=page))
    assert "预计交车时间已设为 11月23日 17:30" in saved
    eta = (await WorkOrder.get(id=order.id)).eta
    assert eta is not None and eta.astimezone(TZ).strftime("%H:%M") == "17:30"


async def test_an_extra_item_is_added_pushed_and_its_answer_shown(bot: Bot) -> None:
    team = await workshop_team(bot)
    order = await open_order(team, bot)
    await as_staff(bot.client, "advisor")
    path, page = f"/admin/work-orders/{order.id}/extra-items", f"/admin/work-orders/{order.id}"

    bad = await post(
        bot.client, path, {"description": "", "parts_price": "4OO", "labour_price": "1.234"}, page=page
    )
    bad_page = await bad.text()
    assert bad.status == 422 and "请填写增项内容" in bad_page
    assert "配件费应为金额" in bad_page and "工时费应为金额" in bad_page
    assert await ExtraItem.all().count() == 0 and await Outbox.all().count() == 0

    item_form = {"description": "前刹车片剩余2mm，建议更换", "parts_price": "400", "labour_price": "80.50"}
    added = await after(bot.client, await post(bot.client, path, item_form, page=page))
    pending = await (await bot.client.get("/admin/work-orders/pending-items")).text()
    item = await ExtraItem.get(work_order_id=order.id)
    assert "已添加增项「前刹车片剩余2mm，建议更换」（¥480.50）" in added and "待客户确认" in added
    assert "前刹车片剩余2mm" in pending and "¥480.50" in pending
    assert (item.source, item.staff_id) == (ChangeSource.STAFF, team.advisor.id)  # type: ignore[attr-defined]
    assert await Outbox.filter(openid="o-my-customer", template_name="extra_item").count() == 1

    bot.clock.advance(minutes=7)
    answer = await bot.user("o-my-customer").text("同意")
    detail = await (await bot.client.get(page)).text()
    pending_after = await (await bot.client.get("/admin/work-orders/pending-items")).text()

    assert "同意" in answer.text
    assert (await ExtraItem.get(id=item.id)).status is ExtraItemStatus.APPROVED
    assert "客户同意" in detail and "11-23 09:07" in detail
    assert "没有待客户确认的增项" in pending_after


async def test_forms_without_the_csrf_token_are_refused_and_change_nothing(bot: Bot) -> None:
    team = await workshop_team(bot)
    order = await open_order(team, bot)
    await as_staff(bot.client, "advisor")

    forged = await bot.client.post(
        f"/admin/work-orders/{order.id}/stage", data={"stage": "diagnosing"}, allow_redirects=False
    )

    assert forged.status == 403 and "页面已过期" in await forged.text()
    assert (await WorkOrder.get(id=order.id)).stage is S.RECEIVED


async def test_scopes_advisors_others_orders_404_gm_reads_only(bot: Bot) -> None:
    await workshop_team(bot)
    theirs = (await orders.open_for_plate("粤B22222", author=DMS, now=bot.clock.now(), tz=TZ)).order
    await as_staff(bot.client, "advisor")
    hidden = await bot.client.get(f"/admin/work-orders/{theirs.id}")
    move = await post(
        bot.client, f"/admin/work-orders/{theirs.id}/stage", {"stage": "diagnosing"}, page="/admin/"
    )

    await as_staff(bot.client, "gm")
    gm_page = await (await bot.client.get(f"/admin/work-orders/{theirs.id}")).text()
    gm_move = await post(
        bot.client, f"/admin/work-orders/{theirs.id}/stage", {"stage": "diagnosing"}, page="/admin/"
    )
    await as_staff(bot.client, "rescue_dispatcher")
    dispatcher = await bot.client.get("/admin/work-orders")

    assert hidden.status == 404 and move.status == 404
    assert "粤B22222" in gm_page and 'name="stage"' not in gm_page and gm_move.status == 403
    assert dispatcher.status == 403
    assert (await WorkOrder.get(id=theirs.id)).stage is S.RECEIVED
