"""Shared WeChat fixtures: the fake API on a real 127.0.0.1 socket and a client pointed at it.

A pytest plugin: conftest lists it in `pytest_plugins`, so no test file defines its own fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.fake import RunningFakeWeChat, start_fake_wechat
from bot.wechat.token_cache import MemoryTokenCache


class RecordingSleep:
    """Stands in for `asyncio.sleep` in the client: records each backoff delay, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest_asyncio.fixture
async def fake_wechat() -> AsyncIterator[RunningFakeWeChat]:
    async with start_fake_wechat() as fake:
        yield fake


@pytest.fixture
def wechat_settings(fake_wechat: RunningFakeWeChat) -> Settings:
    return Settings(wechat_api_base=fake_wechat.url)


@pytest.fixture
def wechat_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest_asyncio.fixture
async def wechat_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def wechat_client(
    wechat_session: aiohttp.ClientSession, wechat_settings: Settings, wechat_sleep: RecordingSleep
) -> WeChatClient:
    return WeChatClient(wechat_session, wechat_settings, MemoryTokenCache(), sleep=wechat_sleep)
