"""PROGRESS and 增项 answers through `/wechat`: what the customer sees of their own cars, and
nothing of anyone else's, by plate or by item number; on both backends."""

from __future__ import annotations

from datetime import date, timedelta

from bot.models import ExtraItem, ExtraItemStatus, Outbox, Vehicle, WorkOrder, WorkStage
from bot.services.workorders import extras, orders
from bot.services.workorders.orders import DMS
from tests import factories
from tests.conftest import Bot
from tests.test_booking_support import ADVISOR_OPENID, CUSTOMER_OPENID, TZ, bind, make_workshop, notifier

S = WorkStage


async def in_workshop(bot: Bot, plate: str = "粤B12345", *stages: WorkStage) -> WorkOrder:
    order = (await orders.open_for_plate(plate, author=DMS, now=bot.clock.now(), tz=TZ)).order
    for stage in stages:
        bot.clock.advance(minutes=45)
        await orders.change_stage(order.id, stage, author=DMS, now=bot.clock.now(), notifier=notifier())
    return order


async def extra(bot: Bot, order: WorkOrder, description: str = "前刹车片 剩余2mm，建议更换") -> ExtraItem:
    return await extras.add_extra_item(
        order.id,
        description=description,
        parts_price="400",
        labour_price="80",
        author=DMS,
        now=bot.clock.now(),
        notifier=notifier(),
    )


async def test_progress_shows_stage_since_eta_advisor_and_timeline(bot: Bot) -> None:
    shop = await make_workshop()
    second = await Vehicle.create(
        customer=shop.customer, plate="粤BD12345", model_name="e:NP1", last_service_date=date(2026, 6, 1)
    )
    order = await in_workshop(bot, "粤B12345", S.DIAGNOSING, S.REPAIRING)
    await orders.set_eta(order.id, bot.clock.now() + timedelta(hours=3))

    answer = await bot.user(CUSTOMER_OPENID).click("PROGRESS")

    assert "【粤B12345 雅阁】" in answer.text
    assert "当前进度：维修中（11月23日 10:30起）" in answer.text
    assert "预计交车：11月23日 13:30" in answer.text
    assert "服务顾问：李顾问 13900000001" in answer.text
    assert "· 11月23日 09:00 已接车\n· 11月23日 09:45 诊断中\n· 11月23日 10:30 维修中" in answer.text
    assert f"【{second.plate} e:NP1】\n目前不在店内维修。上次保养：2026年6月1日。" in answer.text


async def test_free_text_starts_progress(bot: Bot) -> None:
    await make_workshop()
    for words in ("修好了吗", "我的车修得怎么样了", "查一下维修进度"):
        answer = await bot.user(CUSTOMER_OPENID).text(words)
        assert "【粤B12345 雅阁】" in answer.text and "目前不在店内维修" in answer.text


async def test_an_unbound_customer_is_sent_to_bind_first(bot: Bot) -> None:
    await make_workshop(bound=False)
    answer = await bot.user("o-stranger").click("PROGRESS")
    assert "绑定" in answer.text and "粤B12345" not in answer.text


async def test_nobody_gets_progress_of_a_car_that_is_not_theirs(bot: Bot) -> None:
    shop = await make_workshop()
    other, _ = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    await bind("o-other", other)
    order = await in_workshop(bot, "粤B54321", S.DIAGNOSING)
    item = await extra(bot, order, "变速箱油更换")
    user = bot.user(CUSTOMER_OPENID)

    by_plate = await user.text("粤B54321的进度")
    by_item = await user.text(f"同意 {item.id}")
    own = await user.click("PROGRESS")

    assert "没有 粤B***21" in by_plate.text and "诊断中" not in by_plate.text
    assert "没有待确认的增项" in by_item.text and "变速箱油" not in by_item.text
    assert "粤B54321" not in own.text and "诊断中" not in own.text
    assert (await ExtraItem.get(id=item.id)).status is ExtraItemStatus.PENDING


async def test_a_customer_with_several_pending_items_is_asked_which(bot: Bot) -> None:
    await make_workshop()
    order = await in_workshop(bot, "粤B12345", S.DIAGNOSING)
    brakes = await extra(bot, order)
    wipers = await extra(bot, order, "雨刮片老化")
    user = bot.user(CUSTOMER_OPENID)

    which = await user.text("不同意")
    answered = await user.text("2")
    unknown = await user.text("同意 999999")
    approved = await user.text("同意")  # one left: no need to say which

    assert "要拒绝的一项" in which.text and f"雨刮片老化 ¥480.00（编号{wipers.id}）" in which.text
    assert "您不同意增项「雨刮片老化」" in answered.text
    assert "编号为 999999" in unknown.text and f"编号{brakes.id}" in unknown.text
    assert "您同意了增项「前刹车片" in approved.text
    statuses = {i.id: i.status for i in await ExtraItem.all()}
    assert statuses == {brakes.id: ExtraItemStatus.APPROVED, wipers.id: ExtraItemStatus.DECLINED}


async def test_progress_asks_for_each_pending_item_as_a_numbered_choice(bot: Bot) -> None:
    await make_workshop()
    order = await in_workshop(bot, "粤B12345", S.DIAGNOSING)
    brakes = await extra(bot, order)
    wipers = await extra(bot, order, "雨刮片老化")
    user = bot.user(CUSTOMER_OPENID)

    overview = await user.click("PROGRESS")
    first = await user.text("1")
    last = await user.text("2")

    assert "当前进度：诊断中" in overview.text and "【待您确认的增项】粤B12345\n前刹车片" in overview.text
    assert "1. 同意\n2. 不同意" in overview.text
    assert "您同意了增项「前刹车片" in first.text and "雨刮片老化" in first.text.split("\n\n")[1]
    assert "您不同意增项「雨刮片老化」" in last.text
    answered = {i.id: i for i in await ExtraItem.all()}
    assert answered[brakes.id].status is ExtraItemStatus.APPROVED
    assert answered[wipers.id].status is ExtraItemStatus.DECLINED
    assert answered[wipers.id].answered_at == bot.clock.now()
    assert "没有待确认的增项" in (await user.text("同意")).text


async def test_an_answer_in_chat_is_told_to_the_advisor_once(bot: Bot) -> None:
    await make_workshop()
    order = await in_workshop(bot, "粤B12345", S.DIAGNOSING)
    item = await extra(bot, order)
    user = bot.user(CUSTOMER_OPENID)

    first = await user.text(f"同意 {item.id}", msg_id=903)
    retried = await user.text(f"同意 {item.id}", msg_id=903)  # WeChat's retry of the same message
    again = await user.text(f"同意 {item.id}")  # the customer says it once more

    assert "您同意了增项「前刹车片" in first.text and retried.text == first.text
    assert "没有待确认的增项" in again.text
    [told] = await Outbox.filter(openid=ADVISOR_OPENID, template_name="extra_item_answered")
    assert told.text.startswith(f"增项已获同意：工单 {order.number}\n客户：张先生（粤B12345 雅阁）")
    assert f"前刹车片 剩余2mm，建议更换（编号{item.id}），合计 ¥480.00" in told.text
