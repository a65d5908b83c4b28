"""`/wechat` over real HTTP: refusals that change nothing, both crypto modes, retries, the 5-second rule.

Every test runs on both backends (SQLite + in-process state, PostgreSQL + Redis) through the
`bot` / `make_bot` fixtures; requests are signed (and encrypted) as WeChat's servers sign them.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families
from wechatpy.crypto import WeChatCrypto

from bot.app import ENGINE, LATE_REPLIES
from bot.conversation.context import Context
from bot.conversation.replies import Reply, TextReply
from bot.conversation.router import Router
from bot.conversation.storage import FlowState, FlowStorage, Held
from bot.models import Follower, InboundMessage, Outbox
from bot.wechat import protocol
from bot.wechat.simulator import Answer, WeChatUser
from tests.conftest import AES_KEY, APPID, TOKEN, Bot, MakeBot

SLOW_SECONDS = 6.0
WECHAT_DEADLINE_SECONDS = 5.0

BILLION_LAUGHS_DTD = (
    '<!DOCTYPE xml [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]>"
)
EXTERNAL_ENTITY_DTD = '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
ENTITY_ATTACKS = {
    "billion-laughs": (BILLION_LAUGHS_DTD, "&lol9;"),
    "external-entity": (EXTERNAL_ENTITY_DTD, "&xxe;"),
}


def entity_attack(user: WeChatUser, attack: str) -> bytes:
    """A text message whose Content is an entity declared in an inline DTD."""
    dtd, reference = ENTITY_ATTACKS[attack]
    body = user.xml("text", {"Content": "PLACEHOLDER"}).decode()
    return (dtd + body.replace("PLACEHOLDER", reference)).encode()


async def post_raw(bot: Bot, params: dict[str, str], body: bytes | AsyncIterator[bytes]) -> tuple[int, bytes]:
    async with bot.client.post("/wechat", params=params, data=body) as response:
        return response.status, await response.read()


async def assert_nothing_stored(bot: Bot, openid: str) -> None:
    """A refused request left no trace: no message logged, no follower, no flow, nothing sent."""
    assert await InboundMessage.all().count() == 0
    assert await Follower.filter(openid=openid).count() == 0
    assert await bot.app[ENGINE].storage.get(openid) is None
    assert bot.wechat.state.messages == []


async def poll(check: Callable[[], object], timeout: float, what: str) -> None:
    """Wait until `check()` is truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(bot: Bot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with bot.client.get("/metrics") as response:
        return metric_values(await response.text())


# --- refusals ---------------------------------------------------------------------------------


async def test_bad_signature_is_refused_with_403_and_nothing_stored(bot: Bot) -> None:
    user = bot.user("o-forger")
    params, body = user.signed_request(user.xml("text", {"Content": "绑定"}))
    params["signature"] = "0" * 40

    status, _ = await post_raw(bot, params, body)

    assert status == 403
    await assert_nothing_stored(bot, "o-forger")


async def test_bad_msg_signature_in_safe_mode_is_refused_with_403_and_nothing_stored(bot: Bot) -> None:
    user = bot.user("o-forger", safe_mode=True)
    params, body = user.signed_request(user.xml("text", {"Content": "绑定"}))
    params["msg_signature"] = "0" * 40

    status, _ = await post_raw(bot, params, body)

    assert status == 403
    await assert_nothing_stored(bot, "o-forger")


async def test_safe_mode_message_for_another_app_is_refused_with_403(bot: Bot) -> None:
    user = bot.user("o-elsewhere", safe_mode=True)
    user.appid = "wx-another-account"

    answer = await user.text("绑定")

    assert answer.status == 403
    await assert_nothing_stored(bot, "o-elsewhere")


@pytest.mark.parametrize("seconds", [-1, +1], ids=["too-old", "too-far-ahead"])
async def test_timestamp_beyond_the_allowed_skew_is_refused_with_403(bot: Bot, seconds: int) -> None:
    user = bot.user("o-replay")
    skew = bot.settings.max_clock_skew_seconds
    user.now = bot.clock.now().timestamp() + seconds * (skew + 1)

    answer = await user.text("绑定")

    assert answer.status == 403
    await assert_nothing_stored(bot, "o-replay")


async def test_timestamp_just_inside_the_allowed_skew_is_accepted(bot: Bot) -> None:
    user = bot.user("o-slow-network")
    user.now = bot.clock.now().timestamp() - bot.settings.max_clock_skew_seconds

    assert "手机号" in (await user.text("绑定")).text


MALFORMED = {
    "truncated": b"<xml><ToUserName>gh</ToUserName><FromUserName>o-x</FromUserName>",
    "garbage": b"not xml at all",
    "empty": b"",
    "wrong-root": b"<message><FromUserName>o-x</FromUserName></message>",
}


@pytest.mark.parametrize("safe_mode", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_xml_is_refused_with_400(bot: Bot, safe_mode: bool, body: bytes) -> None:
    user = bot.user("o-x", safe_mode=safe_mode)
    params, wire = user.signed_request(body)  # in safe mode, the malformed XML is what was encrypted

    status, _ = await post_raw(bot, params, wire)

    assert status == 400
    await assert_nothing_stored(bot, "o-x")


@pytest.mark.parametrize("envelope", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_safe_mode_envelope_is_refused_with_400(bot: Bot, envelope: bytes) -> None:
    user = bot.user("o-x", safe_mode=True)
    params, _ = user.signed_request(user.xml("text", {"Content": "绑定"}))

    status, _ = await post_raw(bot, params, envelope)

    assert status == 400
    await assert_nothing_stored(bot, "o-x")


@pytest.mark.parametrize("safe_mode", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize("missing", ["FromUserName", "ToUserName", "CreateTime", "MsgType"])
async def test_message_missing_a_required_field_is_refused_with_400(
    bot: Bot, safe_mode: bool, missing: str
) -> None:
    user = bot.user("o-partial", safe_mode=safe_mode)
    body = user.xml("text", {"Content": "绑定"}).decode()
    start, end = body.index(f"<{missing}>"), body.index(f"</{missing}>") + len(f"</{missing}>")
    params, wire = user.signed_request((body[:start] + body[end:]).encode())

    status, _ = await post_raw(bot, params, wire)

    assert status == 400
    await assert_nothing_stored(bot, "o-partial")


async def test_body_over_the_limit_with_content_length_is_refused_with_413(bot: Bot) -> None:
    user = bot.user("o-big")
    body = user.xml("text", {"Content": "绑定" + "x" * bot.settings.max_body_bytes})
    params, wire = user.signed_request(body)

    status, _ = await post_raw(bot, params, wire)

    assert status == 413
    await assert_nothing_stored(bot, "o-big")


def chunked(body: bytes, size: int, pause: float = 0.0) -> AsyncIterator[bytes]:
    """The body as a chunked upload with no Content-Length; `pause` makes it a slow sender."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]
            if pause:
                await asyncio.sleep(pause)

    return chunks()


async def test_chunked_body_over_the_limit_without_content_length_is_refused_with_413(bot: Bot) -> None:
    user = bot.user("o-big")
    body = user.xml("text", {"Content": "绑定" + "x" * bot.settings.max_body_bytes})
    params, wire = user.signed_request(body)

    status, _ = await post_raw(bot, params, chunked(wire, 4096))

    assert status == 413
    await assert_nothing_stored(bot, "o-big")


async def test_chunked_body_under_the_limit_from_a_slow_sender_is_read_whole(bot: Bot) -> None:
    user = bot.user("o-slow-sender")
    body = user.xml("text", {"Content": "绑定" + " " * (bot.settings.max_body_bytes // 2)})
    params, wire = user.signed_request(body)

    status, raw = await post_raw(bot, params, chunked(wire, 1024, pause=0.01))

    assert status == 200
    assert "手机号" in user.read_answer(status, raw, params).text


async def test_compressed_body_that_inflates_past_the_limit_is_refused_with_413(bot: Bot) -> None:
    user = bot.user("o-zip-bomb")
    body = user.xml("text", {"Content": "绑定" + " " * (200 * bot.settings.max_body_bytes)})
    params, wire = user.signed_request(body)
    compressed = gzip.compress(wire)
    assert len(compressed) < bot.settings.max_body_bytes  # small on the wire

    async with bot.client.post(
        "/wechat", params=params, data=compressed, headers={"Content-Encoding": "gzip"}
    ) as response:
        assert response.status == 413
    await assert_nothing_stored(bot, "o-zip-bomb")


@pytest.mark.parametrize("safe_mode", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize("attack", sorted(ENTITY_ATTACKS))
async def test_entity_payload_is_refused_with_400(bot: Bot, safe_mode: bool, attack: str) -> None:
    user = bot.user("o-xxe", safe_mode=safe_mode)
    params, wire = user.signed_request(entity_attack(user, attack))

    status, raw = await post_raw(bot, params, wire)

    assert status == 400
    assert b"root:" not in raw and b"lollol" not in raw
    await assert_nothing_stored(bot, "o-xxe")


@pytest.mark.parametrize("attack", sorted(ENTITY_ATTACKS))
async def test_entity_payload_in_the_safe_mode_envelope_is_refused_with_400(bot: Bot, attack: str) -> None:
    user = bot.user("o-xxe", safe_mode=True)
    params, wire = user.signed_request(user.xml("text", {"Content": "绑定"}))
    dtd, reference = ENTITY_ATTACKS[attack]
    encrypted = protocol.parse_xml(wire)["Encrypt"]
    envelope = f"<xml><ToUserName>{reference}</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"

    status, _ = await post_raw(bot, params, (dtd + envelope).encode())

    assert status == 400
    await assert_nothing_stored(bot, "o-xxe")


async def test_url_verification_echoes_echostr_only_when_signed(bot: Bot) -> None:
    user = bot.user("o-console")
    params, _ = user.signed_request(b"")
    params["echostr"] = "echo-4711"

    async with bot.client.get("/wechat", params=params) as good:
        assert (good.status, await good.text()) == (200, "echo-4711")
    async with bot.client.get("/wechat", params=params | {"signature": "0" * 40}) as forged:
        assert forged.status == 403
        assert "echo-4711" not in await forged.text()


# --- plain and safe mode at once ----------------------------------------------------------------


async def test_plain_and_safe_mode_messages_are_answered_by_the_same_app(bot: Bot) -> None:
    plain = bot.user("o-plain")
    safe = bot.user("o-safe", safe_mode=True)
    params, wire = safe.signed_request(safe.xml("text", {"Content": "绑定"}))

    plain_answer = await plain.text("绑定")
    status, encrypted = await post_raw(bot, params, wire)

    assert "手机号" in plain_answer.text
    assert status == 200
    assert b"<Encrypt>" in encrypted and "手机号".encode() not in encrypted
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = protocol.parse_xml(encrypted)
    decrypted = crypto.decrypt_message(
        encrypted, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    reply = protocol.parse_xml(decrypted.encode() if isinstance(decrypted, str) else decrypted)
    assert reply["ToUserName"] == "o-safe" and "手机号" in reply["Content"]


# --- retries --------------------------------------------------------------------------------------


async def test_text_sent_three_times_concurrently_advances_the_flow_once(bot: Bot) -> None:
    user = bot.user("o-retry")
    await user.click("BIND")
    msg_id = 880001

    answers = await asyncio.gather(*(user.text("13812345678", msg_id=msg_id) for _ in range(3)))

    assert [a.status for a in answers] == [200, 200, 200]
    assert "车牌" in answers[0].text
    assert answers[0].body == answers[1].body == answers[2].body
    assert await InboundMessage.filter(key=str(msg_id)).count() == 1
    flow = await bot.app[ENGINE].storage.get("o-retry")
    assert flow is not None and (flow.step, flow.failures) == ("plate", 0)
    later = await user.text("13812345678", msg_id=msg_id)  # WeChat's retry after the answer went out
    assert later.body == answers[0].body


async def test_safe_mode_retries_get_the_same_reply(bot: Bot) -> None:
    user = bot.user("o-retry-safe", safe_mode=True)
    await user.click("BIND")

    answers = await asyncio.gather(*(user.text("13812345678", msg_id=880002) for _ in range(3)))

    assert "车牌" in answers[0].text
    assert answers[0].body == answers[1].body == answers[2].body  # the decrypted reply XML
    flow = await bot.app[ENGINE].storage.get("o-retry-safe")
    assert flow is not None and flow.step == "plate"


def counting_router(calls: list[str]) -> Router:
    """A menu flow whose handler records each time it really runs."""
    router = Router("counting")

    @router.start("COUNT", flow="count")
    async def count(ctx: Context) -> Reply:
        calls.append(ctx.message.key)
        return TextReply(f"run {len(calls)}")

    return router


async def test_event_sent_three_times_concurrently_is_handled_once(make_bot: MakeBot) -> None:
    calls: list[str] = []
    bot = await make_bot(extra_routers=(counting_router(calls),))
    user = bot.user("o-clicker")
    click = user.xml("event", {"Event": "CLICK", "EventKey": "COUNT"})

    answers = await asyncio.gather(*(user.post(click) for _ in range(3)))

    assert len(calls) == 1
    assert answers[0].text == "run 1"
    assert answers[0].body == answers[1].body == answers[2].body
    assert await InboundMessage.filter(openid="o-clicker").count() == 1
    assert (await user.post(click)).body == answers[0].body
    assert len(calls) == 1
    assert (await user.click("COUNT")).text == "run 2"  # a new click (new CreateTime) is a new event


# --- the 5-second rule ----------------------------------------------------------------------------


def slow_router(started: asyncio.Event) -> Router:
    router = Router("slow")

    @router.start(flow="slow", keywords=("slow please",))
    async def slow(ctx: Context) -> Reply:
        started.set()
        await asyncio.sleep(SLOW_SECONDS)  # the overrun under test
        return TextReply(f"done slowly for {ctx.message.openid}")

    return router


async def timed(answer: Awaitable[Answer]) -> tuple[Answer, float]:
    started = time.monotonic()
    result = await answer
    return result, time.monotonic() - started


async def test_overrunning_handler_gets_success_in_time_and_its_reply_goes_out_once_later(
    make_bot: MakeBot,
) -> None:
    started = asyncio.Event()
    bot = await make_bot(extra_routers=(slow_router(started),))
    user = bot.user("o-patient")
    before = await scrape(bot)

    first = asyncio.create_task(timed(user.text("slow please", msg_id=990001)))
    await asyncio.wait_for(started.wait(), WECHAT_DEADLINE_SECONDS)
    retries = await asyncio.gather(*(timed(user.text("slow please", msg_id=990001)) for _ in range(2)))
    answer, elapsed = await first
    late_retry, late_elapsed = await timed(user.text("slow please", msg_id=990001))

    for reply, seconds in [(answer, elapsed), *retries, (late_retry, late_elapsed)]:
        assert (reply.status, reply.body) == (200, b"success")
        assert seconds < WECHAT_DEADLINE_SECONDS
    assert bot.wechat.state.messages == []  # the handler is still running

    def sent() -> list[str]:
        return [m.payload["text"]["content"] for m in bot.wechat.state.messages if m.openid == "o-patient"]

    await poll(sent, SLOW_SECONDS + 5, "the late reply to reach the fake WeChat")
    await bot.app[LATE_REPLIES].wait_idle()
    assert sent() == ["done slowly for o-patient"]
    assert bot.wechat.state.messages[0].kind == "text"  # a customer-service message
    assert await Outbox.filter(openid="o-patient").count() == 1
    after = await scrape(bot)
    assert after[("bot_late_replies_total", ())] - before.get(("bot_late_replies_total", ()), 0) == 1


async def test_handler_failing_after_the_window_still_answers_the_customer(make_bot: MakeBot) -> None:
    overran = asyncio.Event()
    router = Router("failing-late")

    @router.start(flow="failing", keywords=("fail late",))
    async def fail_late(ctx: Context) -> Reply:
        await overran.wait()  # released once WeChat has had its `success`
        raise RuntimeError("the DMS went away")

    bot = await make_bot(extra_routers=(router,), reply_budget_seconds=0.2)
    user = bot.user("o-unlucky")

    answer = await user.text("fail late", msg_id=990002)
    overran.set()

    def sent() -> list[str]:
        return [m.payload["text"]["content"] for m in bot.wechat.state.messages if m.openid == "o-unlucky"]

    assert answer.body == b"success"
    await poll(sent, 5, "the apology to reach the fake WeChat")
    await bot.app[LATE_REPLIES].wait_idle()
    assert sent() == [bot.app[ENGINE].services.texts.render("common/error")]


class LingeringAfterItsReply:
    """Flow storage whose holds linger after keeping the flow and reply: a handler whose reply is
    kept just as its budget runs out, before its task is seen to finish."""

    def __init__(self, storage: FlowStorage) -> None:
        self.storage = storage
        self.released = asyncio.Event()

    @asynccontextmanager
    async def hold(self, openid: str) -> AsyncIterator[Held]:
        async with self.storage.hold(openid) as held:
            yield held
        await self.released.wait()

    async def get(self, openid: str) -> FlowState | None:
        return await self.storage.get(openid)

    async def set(self, openid: str, state: FlowState) -> None:
        await self.storage.set(openid, state)

    async def clear(self, openid: str) -> None:
        await self.storage.clear(openid)


async def test_a_reply_kept_as_the_budget_runs_out_is_the_answer_and_nothing_goes_out_late(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(reply_budget_seconds=0.2)
    lingering = LingeringAfterItsReply(bot.app[ENGINE].storage)
    bot.app[ENGINE].storage = lingering
    user = bot.user("o-just-in-time")

    answer = await user.text("你好", msg_id=990003)
    lingering.released.set()
    await bot.app[LATE_REPLIES].wait_idle()

    assert answer.msg_type == "text" and answer.body != b"success"
    assert (await user.text("你好", msg_id=990003)).body == answer.body  # a retry
    assert bot.wechat.state.messages == []


# --- metrics --------------------------------------------------------------------------------------


async def test_metrics_count_messages_retries_refusals_and_handle_time(bot: Bot) -> None:
    user = bot.user("o-metrics")
    before = await scrape(bot)

    await user.text("绑定", msg_id=770001)
    await user.text("绑定", msg_id=770001)
    await user.click("ADVISOR")
    params, wire = user.signed_request(user.xml("text", {"Content": "x"}))
    await post_raw(bot, params | {"signature": "0" * 40}, wire)
    await post_raw(bot, params, b"<xml>")

    after = await scrape(bot)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("bot_messages_total", kind="text") == 1
    assert delta("bot_messages_total", kind="click") == 1
    assert delta("bot_message_retries_total") == 1
    assert delta("bot_requests_refused_total", status="403") == 1
    assert delta("bot_requests_refused_total", status="400") == 1
    assert delta("bot_handle_seconds_count") == 3
