"""Two real `python -m bot serve` processes sharing PostgreSQL and Redis handle a message once.

WeChat may deliver a message and its retries to different instances behind the load balancer;
the reply cache and the customer lock live in Redis, so exactly one instance handles it and
every copy gets the same bytes. The schema comes from `generate_schemas` through the `db`
fixture, like every other test's, rather than `python -m bot migrate`: while features are being
added the aerich migrations can lag behind the models, and tests/test_migrations.py is what
holds the two together.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.conversation.storage import RedisFlowStorage
from bot.models import Follower, InboundMessage
from bot.redis_pipeline import RedisPipeline
from bot.wechat.fake import RunningFakeWeChat
from bot.wechat.simulator import WeChatUser
from tests import factories
from tests.backends import Backend
from tests.conftest import AES_KEY, APPID, TOKEN

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 15.0
STOP_SECONDS = 5.0
OPENID = "o-two-instances"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_environment(db: Backend, wechat: RunningFakeWeChat) -> dict[str, str]:
    """This process's environment without any BOT_/WECHAT_ setting, plus the shared backends."""
    assert db.redis_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WECHAT_"))}
    return env | {
        "BOT_DATABASE_URL": db.database_url,
        "BOT_REDIS_URL": db.redis_url,
        "BOT_HOST": "127.0.0.1",
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APPID,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": wechat.url,
    }


async def wait_healthy(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Poll `/healthz` until it answers ok; fail with the process's log if it dies or never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process.returncode is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200 and (await response.json()).get("redis") == "ok":
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            if loop.time() > deadline:
                pytest.fail(f"serve at {url} not healthy after {STARTUP_SECONDS}s:\n{log.read_text()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def serve_process(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """`python -m bot serve` on a free port; yields its base URL once healthy, stops it after."""
    port = free_port()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", cwd=ROOT, env=env | {"BOT_PORT": str(port)},
            stdout=output, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, process, log)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_message_sent_three_times_across_two_processes_is_handled_once(
    db: Backend, fake_wechat: RunningFakeWeChat, tmp_path: Path
) -> None:
    shop = await factories.store()
    customer, _ = await factories.customer_with_car(shop)
    env = serve_environment(db, fake_wechat)
    async with AsyncExitStack() as stack:
        urls = await asyncio.gather(
            *(stack.enter_async_context(serve_process(env, tmp_path / f"serve-{n}.log")) for n in (1, 2))
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        redis = Redis.from_url(env["BOT_REDIS_URL"])
        stack.push_async_callback(redis.aclose)
        first, second = (WeChatUser(url, session, OPENID, TOKEN, appid=APPID) for url in urls)
        assert "手机号" in (await first.click("BIND")).text
        phone = first.xml("text", {"Content": "13812345678"})

        answers = await asyncio.gather(first.post(phone), second.post(phone), first.post(phone))

        assert [a.status for a in answers] == [200, 200, 200]
        assert "车牌" in answers[0].text
        assert answers[0].body == answers[1].body == answers[2].body
        assert await InboundMessage.filter(openid=OPENID, kind="text").count() == 1
        flow = await RedisFlowStorage(RedisPipeline(redis)).get(OPENID)
        assert flow is not None and (flow.step, flow.failures) == ("plate", 0)

        bound = await second.text("粤B12345")  # the other process carries on the same flow

        assert "绑定成功" in bound.text
        assert await Follower.filter(openid=OPENID, customer=customer).exists()
