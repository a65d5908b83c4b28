"""Shared helpers for the API tests (no tests here): the bot with an API key, and JSON calls over
real HTTP as the DMS, as a staff member with a token, or as nobody."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from multidict import CIMultiDictProxy

from bot.models import Staff
from tests.conftest import Bot, MakeBot
from tests.test_admin_support import PASSWORD

API_KEY = "dms-test-key-0123456789abcdef"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]


@dataclass(frozen=True)
class Api:
    bot: Bot

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Answer:
        """As the DMS (API key) unless given a staff `token`, or `anonymous`."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        elif not anonymous:
            sent["X-API-Key"] = API_KEY
        response = await self.bot.client.request(
            method, "/api/v1" + path, json=json, params=params, headers=sent
        )
        is_json = response.content_type == "application/json"
        body = await response.json() if is_json else await response.read()
        return Answer(response.status, body, response.headers)

    async def token_for(self, staff: Staff, password: str = PASSWORD) -> str:
        answer = await self.call("POST", "/auth/token", json={"login": staff.phone, "password": password})
        assert answer.status == 200, answer.body
        return str(answer.body["token"])


@pytest_asyncio.fixture(name="api")
async def api_fixture(make_bot: MakeBot) -> Api:
    """The bot with an API key; test modules import this as `api_fixture` and ask for `api`."""
    return Api(await make_bot(api_keys=(API_KEY,)))
