"""The conversation engine through `/wechat`: ordering, routing, re-asks, expiry, message kinds.

Test routers (passed with `make_bot(extra_routers=...)`) stand in for flows that do not exist
yet, so each rule of the engine is shown on its own; the real BIND flow is used where it fits.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.app import ENDPOINT, ENGINE, REDIS
from bot.conversation.context import Context
from bot.conversation.messages import Kind
from bot.conversation.replies import Reply, TextReply
from bot.conversation.router import Router
from bot.conversation.storage import (
    FLOW_TTL_SECONDS,
    FlowState,
    FlowStorage,
    Held,
    KeyBuilder,
    MemoryFlowStorage,
)
from bot.models import Follower, InboundMessage
from bot.wechat.simulator import WeChatUser
from tests import factories
from tests.conftest import Bot, MakeBot

# --- test routers ---------------------------------------------------------------------------------


def ordering_router(first_started: asyncio.Event, release: asyncio.Event) -> Router:
    """A two-step flow whose first step holds on until the test releases it."""
    router = Router("ordering")

    @router.start("ORDER", flow="order")
    async def begin(ctx: Context) -> Reply:
        ctx.flow = FlowState("order", "first")
        return TextReply("first?")

    @router.step("order", "first")
    async def first(ctx: Context) -> Reply:
        first_started.set()
        await release.wait()
        assert ctx.flow is not None
        ctx.flow = ctx.flow.at("second", first=ctx.text)
        return TextReply(f"first={ctx.text}")

    @router.step("order", "second")
    async def second(ctx: Context) -> Reply:
        seen = ctx.data.get("first")
        ctx.flow = None
        return TextReply(f"second={ctx.text} after first={seen}")

    return router


def kinds_router() -> Router:
    """Flows waiting for a photo, a location, a numbered choice; one started by a breakdown phrase."""
    router = Router("kinds")

    @router.start("PHOTO", flow="photo")
    async def ask_photo(ctx: Context) -> Reply:
        ctx.flow = FlowState("photo", "picture")
        return TextReply("send a photo")

    @router.step("photo", "picture", accepts=(Kind.IMAGE,))
    async def on_photo(ctx: Context) -> Reply:
        ctx.flow = None
        return TextReply(f"photo {ctx.message.media_id}")

    @router.start("WHERE", flow="where", keywords=("坏了", "抛锚"))
    async def ask_location(ctx: Context) -> Reply:
        ctx.flow = FlowState("where", "location")
        return TextReply("where are you?")

    @router.step("where", "location", accepts=(Kind.LOCATION, Kind.TEXT))
    async def on_location(ctx: Context) -> Reply:
        location = ctx.message.location
        if location is None:
            return ctx.reask("common/wrong_kind", expected=["location"])
        ctx.flow = None
        return TextReply(f"at {location.latitude},{location.longitude} {location.label}")

    @router.start("PICK", flow="pick")
    async def ask_pick(ctx: Context) -> Reply:
        return ctx.choose(
            "which", "common/cancelled", options=[("wash", "洗车"), ("align", "四轮定位")], flow="pick"
        )

    @router.step("pick", "which")
    async def on_pick(ctx: Context) -> Reply:
        picked = ctx.picked()
        if picked is None:
            return ctx.reask("common/nothing_to_cancel")
        ctx.flow = None
        return TextReply(f"picked {picked}")

    return router


class WatchedFlows:
    """The engine's flow storage, counting who waits to hold a flow (to know a message has queued)."""

    def __init__(self, inner: FlowStorage) -> None:
        self._inner = inner
        self.waiting: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @asynccontextmanager
    async def hold(self, openid: str) -> AsyncIterator[Held]:
        self.waiting[openid] += 1
        async with self._inner.hold(openid) as held:
            self.waiting[openid] -= 1
            yield held


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.01)


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def let_flows_expire(bot: Bot, openid: str, memory_clock: ManualMonotonic) -> None:
    """What 30 idle minutes do to a flow: the memory clock moves on, or Redis drops the key."""
    if REDIS in bot.app:
        await bot.app[REDIS].delete(KeyBuilder()("flow", openid))
    else:
        memory_clock.now += FLOW_TTL_SECONDS + 1


# --- ordering -------------------------------------------------------------------------------------


async def test_one_customers_messages_are_handled_in_order_without_holding_up_others(
    make_bot: MakeBot,
) -> None:
    first_started, release = asyncio.Event(), asyncio.Event()
    bot = await make_bot(extra_routers=(ordering_router(first_started, release),))
    engine = bot.app[ENGINE]
    engine.storage = lock = WatchedFlows(engine.storage)  # type: ignore[assignment]
    user, other = bot.user("o-quick"), bot.user("o-other")
    await user.click("ORDER")

    first = asyncio.create_task(user.text("alpha"))
    await asyncio.wait_for(first_started.wait(), 5)
    second = asyncio.create_task(user.text("beta"))
    await until(lambda: lock.waiting["o-quick"] == 1)  # queued behind the first message

    meanwhile = await other.text("绑定")  # another customer is answered while the first is held

    assert "手机号" in meanwhile.text
    assert not first.done() and not second.done()
    release.set()
    assert (await first).text == "first=alpha"
    assert (await second).text == "second=beta after first=alpha"


def relay_router() -> Router:
    """Two quick steps: the second reports what the first stored."""
    router = Router("relay")

    @router.start("RELAY", flow="relay")
    async def begin(ctx: Context) -> Reply:
        ctx.flow = FlowState("relay", "first")
        return TextReply("first?")

    @router.step("relay", "first")
    async def first(ctx: Context) -> Reply:
        assert ctx.flow is not None
        ctx.flow = ctx.flow.at("second", first=ctx.text)
        return TextReply(f"first={ctx.text}")

    @router.step("relay", "second")
    async def second(ctx: Context) -> Reply:
        seen = ctx.data.get("first")
        ctx.flow = None
        return TextReply(f"second={ctx.text} after first={seen}")

    return router


async def test_back_to_back_messages_are_not_reordered_by_the_reply_cache_round_trip(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(extra_routers=(relay_router(),))
    users = [bot.user(f"o-burst-{n}") for n in range(30)]
    await asyncio.gather(*(user.click("RELAY") for user in users))

    async def burst(user: WeChatUser) -> list[str]:
        first = asyncio.create_task(user.text("alpha"))
        second = asyncio.create_task(user.text("beta"))  # sent right after, before any answer
        return [(await first).text, (await second).text]

    results = await asyncio.gather(*(burst(user) for user in users))

    out_of_order = [texts for texts in results if texts != ["first=alpha", "second=beta after first=alpha"]]
    assert out_of_order == []


# --- failures, expiry -----------------------------------------------------------------------------


async def test_three_failures_at_one_step_offer_the_known_advisor(bot: Bot) -> None:
    shop = await factories.store()
    await factories.staff(shop, name="陈顾问", phone="13900000007", qr_scene="advisor-7")
    user = bot.user("o-fumbling")
    await user.subscribe(scene="advisor-7")
    await user.click("BIND")

    assert "手机号" in (await user.text("138")).text  # phone step: failure 1
    assert "车牌" in (await user.text("13812345678")).text  # understood: next step, failures reset
    reasks = [(await user.text(wrong)).text for wrong in ("abc", "京")]
    offer = await user.text("不知道")

    assert all("车牌" in text for text in reasks)  # two failures at the plate step: asked again
    assert "陈顾问" in offer.text and "13900000007" in offer.text
    assert await bot.app[ENGINE].storage.get("o-fumbling") is None
    assert "可以为您办理" in (await user.text("不知道")).text  # no flow any more: the help text


async def test_three_failures_without_an_advisor_transfer_to_customer_service(bot: Bot) -> None:
    user = bot.user("o-stranger")
    await user.click("BIND")

    answers = [await user.text(wrong) for wrong in ("1", "2", "3")]

    assert [a.msg_type for a in answers] == ["text", "text", "transfer_customer_service"]
    assert await bot.app[ENGINE].storage.get("o-stranger") is None


async def test_customer_returning_to_an_expired_flow_is_told_it_expired(bot: Bot) -> None:
    memory_clock = ManualMonotonic()
    if REDIS not in bot.app:
        bot.app[ENGINE].storage = MemoryFlowStorage(bot.app[ENDPOINT].replies.store, memory_clock)
    user = bot.user("o-away")
    await user.click("BIND")

    await let_flows_expire(bot, "o-away", memory_clock)
    back = await user.text("13812345678")

    assert "绑定车辆" in back.text and "30分钟" in back.text
    assert "可以为您办理" in (await user.text("13812345678")).text  # told once, then the usual help


# --- message kinds --------------------------------------------------------------------------------


async def test_voice_recognition_is_treated_as_text(bot: Bot) -> None:
    user = bot.user("o-driving")

    assert "手机号" in (await user.voice("绑定")).text
    assert "车牌" in (await user.voice("13812345678")).text
    flow = await bot.app[ENGINE].storage.get("o-driving")
    assert flow is not None and flow.data["phone"] == "13812345678"


async def test_voice_without_recognition_is_asked_again_politely(bot: Bot) -> None:
    answer = await bot.user("o-mumble").voice("")

    assert "没能识别这段语音" in answer.text


async def test_image_and_location_go_to_the_step_waiting_for_them(make_bot: MakeBot) -> None:
    bot = await make_bot(extra_routers=(kinds_router(),))
    user = bot.user("o-sharing")

    await user.click("PHOTO")
    photo = await user.image("media-42")
    await user.click("WHERE")
    place = await user.location(22.54, 114.05, "深南大道")

    assert photo.text == "photo media-42"
    assert place.text == "at 22.54,114.05 深南大道"
    assert await InboundMessage.filter(openid="o-sharing", kind="image").count() == 1


async def test_image_and_location_with_no_flow_waiting_get_the_stray_reply(bot: Bot) -> None:
    user = bot.user("o-random")

    assert "已收到图片" in (await user.image("media-1")).text
    assert "已收到您的位置" in (await user.location(22.5, 114.0, "福田")).text


async def test_image_sent_to_a_text_step_is_reasked_and_counted(bot: Bot) -> None:
    user = bot.user("o-wrong-kind")
    await user.click("BIND")

    answer = await user.image("media-1")

    assert "请用文字回复" in answer.text
    flow = await bot.app[ENGINE].storage.get("o-wrong-kind")
    assert flow is not None and (flow.step, flow.failures) == ("phone", 1)


@pytest.mark.parametrize(
    ("msg_type", "fields"),
    [
        ("video", {"MediaId": "m-1", "ThumbMediaId": "t-1"}),
        ("shortvideo", {"MediaId": "m-2", "ThumbMediaId": "t-2"}),
        ("link", {"Title": "看看", "Description": "d", "Url": "http://127.0.0.1/x"}),
        ("hologram", {"Beam": "1"}),
    ],
    ids=["video", "shortvideo", "link", "unknown"],
)
async def test_unsupported_message_types_are_answered_politely(
    bot: Bot, msg_type: str, fields: dict[str, str]
) -> None:
    user = bot.user("o-exotic")

    answer = await user.post(user.xml(msg_type, fields))

    assert answer.status == 200 and "暂不支持这类消息" in answer.text
    assert await InboundMessage.filter(openid="o-exotic", kind="other").count() == 1


async def test_menu_view_clicks_need_no_answer(bot: Bot) -> None:
    user = bot.user("o-browsing")

    answer = await user.post(user.xml("event", {"Event": "VIEW", "EventKey": "http://127.0.0.1/shop"}))

    assert (answer.status, answer.body) == (200, b"success")


async def test_events_mid_flow_are_handled_as_events_not_as_answers(bot: Bot) -> None:
    shop = await factories.store()
    await factories.staff(shop, name="陈顾问", phone="13900000007", qr_scene="advisor-7")
    user = bot.user("o-mid-flow")
    await user.click("BIND")

    view = await user.post(user.xml("event", {"Event": "VIEW", "EventKey": "http://127.0.0.1/shop"}))
    scan = await user.scan("advisor-7")

    assert view.body == b"success"
    assert "陈顾问" in scan.text
    flow = await bot.app[ENGINE].storage.get("o-mid-flow")
    assert flow is not None and (flow.step, flow.failures) == ("phone", 0)  # still waiting, no miss
    assert "车牌" in (await user.text("13812345678")).text


async def test_unsubscribe_mid_flow_marks_the_follower_unreachable(bot: Bot) -> None:
    user = bot.user("o-leaving-mid-flow")
    await user.click("BIND")

    answer = await user.unsubscribe()

    assert answer.body == b"success"
    assert (await Follower.get(openid="o-leaving-mid-flow")).subscribed is False


# --- switching flows ------------------------------------------------------------------------------


async def test_menu_click_mid_flow_starts_the_new_flow(make_bot: MakeBot) -> None:
    bot = await make_bot(extra_routers=(kinds_router(),))
    user = bot.user("o-impatient")
    await user.click("BIND")

    answer = await user.click("PHOTO")

    assert answer.text == "send a photo"
    flow = await bot.app[ENGINE].storage.get("o-impatient")
    assert flow is not None and (flow.flow, flow.step, flow.data) == ("photo", "picture", {})


async def test_menu_click_mid_flow_to_a_one_reply_flow_ends_the_old_flow(bot: Bot) -> None:
    user = bot.user("o-impatient")
    await user.click("BIND")

    await user.click("ADVISOR")

    assert await bot.app[ENGINE].storage.get("o-impatient") is None


async def test_keyword_the_step_does_not_understand_switches_flow(make_bot: MakeBot) -> None:
    bot = await make_bot(extra_routers=(kinds_router(),))
    user = bot.user("o-stranded")
    await user.click("BIND")

    answer = await user.text("我车在高速上坏了")

    assert answer.text == "where are you?"
    flow = await bot.app[ENGINE].storage.get("o-stranded")
    assert flow is not None and (flow.flow, flow.step, flow.failures) == ("where", "location", 0)


async def test_keyword_of_the_flow_already_running_is_reasked_not_restarted(make_bot: MakeBot) -> None:
    bot = await make_bot(extra_routers=(kinds_router(),))
    user = bot.user("o-repeating")
    await user.click("WHERE")

    answer = await user.text("抛锚了")

    assert "请发送您的位置" in answer.text
    flow = await bot.app[ENGINE].storage.get("o-repeating")
    assert flow is not None and flow.failures == 1


# --- numbered choices -----------------------------------------------------------------------------


@pytest.mark.parametrize("pick", ["2", "四轮定位"])
async def test_numbered_choice_is_picked_by_number_or_text(make_bot: MakeBot, pick: str) -> None:
    bot = await make_bot(extra_routers=(kinds_router(),))
    user = bot.user("o-picky")

    offer = await user.click("PICK")

    assert "1. 洗车" in offer.text and "2. 四轮定位" in offer.text
    assert (await user.text("7")).text != "picked align"  # not an option: asked again
    assert (await user.text(pick)).text == "picked align"
