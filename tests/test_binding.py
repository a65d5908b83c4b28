"""BIND and ADVISOR end to end through `/wechat`, on both backends."""

import asyncio
import itertools
from typing import Any

import pytest

from bot.app import ENGINE
from bot.conversation.messages import Incoming
from bot.conversation.storage import HANDLED_RECENTLY_SECONDS
from bot.models import Follower, InboundMessage
from bot.services import binding
from tests import factories
from tests.conftest import Bot


async def test_customer_binds_with_phone_and_plate_and_sees_advisor(bot: Bot) -> None:
    shop = await factories.store()
    advisor = await factories.staff(shop)
    await factories.customer_with_car(shop, advisor=advisor)
    user = bot.user("o-zhang")

    assert "手机号" in (await user.click("BIND")).text
    assert "车牌" in (await user.text("138 1234 5678")).text
    answer = await user.text("粤b12345")

    assert "绑定成功" in answer.text and "李顾问" in answer.text
    follower = await Follower.get(openid="o-zhang").prefetch_related("customer")
    assert follower.customer is not None and follower.customer.phone == "13812345678"
    assert "13900000001" in (await user.click("ADVISOR")).text


async def test_a_message_that_arrives_while_the_binding_commits_is_answered_as_bound(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its sender is read as it arrives, before the binding; once the flow is its, it is read again."""
    shop = await factories.store()
    await factories.customer_with_car(shop, advisor=await factories.staff(shop))
    user = bot.user("o-quick")
    await user.click("BIND")
    await user.text("13812345678")
    binding_started, binding_may_go_on = asyncio.Event(), asyncio.Event()
    bind = binding.bind

    async def bind_when_let(*args: Any) -> binding.BindResult:
        binding_started.set()
        await binding_may_go_on.wait()
        return await bind(*args)

    monkeypatch.setattr(binding, "bind", bind_when_let)
    plate = asyncio.create_task(user.text("粤B12345"))
    try:
        async with asyncio.timeout(10):
            await binding_started.wait()
            advisor = asyncio.create_task(user.click("ADVISOR"))
            while await InboundMessage.filter(openid="o-quick", kind="click").count() < 2:
                await asyncio.sleep(0.01)  # the click (after BIND's) is logged, its sender read: not bound
    finally:
        binding_may_go_on.set()

    assert "绑定成功" in (await plate).text
    assert "13900000001" in (await advisor).text


async def test_a_message_that_waited_as_long_as_a_handled_mark_lasts_reads_its_sender_again(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a mark may have lapsed while it waited; a message that came straight through needs none."""
    engine = bot.app[ENGINE]
    admitted: list[str] = []
    admit = engine.arrivals.admit

    def counted(message: Incoming) -> asyncio.Future[Follower]:
        admitted.append(message.openid)
        return admit(message)

    monkeypatch.setattr(engine.arrivals, "admit", counted)
    await bot.user("o-straight").text("你好")
    ticks = itertools.count(0, HANDLED_RECENTLY_SECONDS)  # admitted, then held that much later
    monkeypatch.setattr(engine, "_monotonic", lambda: next(ticks))
    await bot.user("o-waited").text("你好")

    assert admitted == ["o-straight", "o-waited", "o-waited"]  # the second time to read it again


async def test_mismatch_never_says_which_part_was_wrong(bot: Bot) -> None:
    shop = await factories.store()
    await factories.customer_with_car(shop)
    await factories.customer_with_car(shop, phone="13700000000", plate="粤B99999", name="王女士")
    user = bot.user("o-guess")

    await user.click("BIND")
    await user.text("13812345678")
    wrong_plate = await user.text("粤B99999")  # someone else's plate
    await user.click("BIND")
    await user.text("13700000001")
    wrong_phone = await user.text("粤B12345")

    assert "未找到" in wrong_plate.text
    assert wrong_plate.text.replace("4", "3") == wrong_phone.text.replace("4", "3")  # same wording
    assert await Follower.exists(openid="o-guess", customer=None)


async def test_bad_phone_is_reasked_and_three_misses_offer_a_person(bot: Bot) -> None:
    user = bot.user("o-sloppy")
    await user.click("BIND")
    first = await user.text("12345")
    second = await user.text("abc")
    third = await user.text("999")

    assert "11位手机号" in first.text and "11位手机号" in second.text
    assert third.msg_type == "transfer_customer_service"  # no advisor known: WeChat's human service
    assert "可以为您办理" in (await user.text("1")).text  # the flow is over, not stuck


async def test_repeated_misses_are_throttled(bot: Bot) -> None:
    shop = await factories.store()
    await factories.customer_with_car(shop)
    user = bot.user("o-bruteforce")
    for attempt in range(5):
        await user.click("BIND")
        await user.text(f"1381234{attempt:04d}")
        last = await user.text("粤B12345")
    assert "次数过多" in last.text
    await user.click("BIND")
    assert (
        "次数过多" in (await user.text("13812345678")).text or "次数过多" in (await user.click("BIND")).text
    )


async def test_cancel_leaves_any_step(bot: Bot) -> None:
    user = bot.user("o-cancel")
    await user.click("BIND")
    assert "已取消" in (await user.text("取消")).text
    assert "没有进行中" in (await user.text("退出")).text


async def test_advisor_qr_scene_links_advisor_on_subscribe(bot: Bot) -> None:
    shop = await factories.store()
    await factories.staff(shop, name="陈顾问", phone="13900000002", qr_scene="advisor-2")
    await factories.customer_with_car(shop)
    user = bot.user("o-qr")

    welcome = await user.subscribe(scene="advisor-2")
    assert "陈顾问" in welcome.text
    await user.click("BIND")
    await user.text("13812345678")
    assert "陈顾问" in (await user.text("粤B12345")).text  # the customer had no advisor: linked


async def test_unsubscribe_marks_follower_unreachable(bot: Bot) -> None:
    user = bot.user("o-leaving")
    await user.subscribe()
    answer = await user.unsubscribe()
    assert answer.body == b"success"
    assert (await Follower.get(openid="o-leaving")).subscribed is False
