"""Shared fixtures: backends (tests/backends.py), the fake WeChat (tests/wechat_fakes.py), the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.clock import FrozenClock
from bot.conversation.router import Router
from bot.settings import Settings
from bot.wechat.fake import RunningFakeWeChat
from bot.wechat.simulator import WeChatUser

if TYPE_CHECKING:  # imported as a plugin below, so pytest loads it first and rewrites its asserts
    from tests.backends import Backend

pytest_plugins = ["tests.wechat_fakes", "tests.backends", "tests.browser", "tests.ci_guard"]

TOKEN = "test-token"
APPID = "wx-test-appid"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MONDAY_9AM_SHANGHAI = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MONDAY_9AM_SHANGHAI)


@dataclass
class Bot:
    """A running bot app behind a real HTTP test server, with its fake WeChat."""

    app: web.Application
    client: TestClient
    settings: Settings
    wechat: RunningFakeWeChat
    clock: FrozenClock

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def user(self, openid: str, *, safe_mode: bool = False) -> WeChatUser:
        return WeChatUser(
            base_url=self.url,
            session=self.client.session,
            openid=openid,
            token=TOKEN,
            aes_key=AES_KEY if safe_mode else None,
            appid=APPID,
            now=self.clock.now().timestamp(),
        )


def bot_settings(db: Backend, wechat: RunningFakeWeChat, **overrides: object) -> Settings:
    return Settings(
        database_url=db.database_url,
        redis_url=db.redis_url,
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_aes_key=AES_KEY,
        wechat_api_base=wechat.url,
    ).with_overrides(**overrides)


MakeBot = Callable[..., Awaitable[Bot]]


@pytest_asyncio.fixture
async def make_bot(
    db: Backend, fake_wechat: RunningFakeWeChat, clock: FrozenClock, aiohttp_client
) -> MakeBot:  # type: ignore[no-untyped-def]
    async def make(*, extra_routers: tuple[Router, ...] = (), **overrides: object) -> Bot:
        settings = bot_settings(db, fake_wechat, **overrides)
        app = create_app(settings, clock=clock, extra_routers=extra_routers)
        client = await aiohttp_client(app)
        return Bot(app, client, settings, fake_wechat, clock)

    return make


@pytest_asyncio.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot()
