"""The fake WeChat API over real HTTP: tokens, recorded messages, error injection, QR images."""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from typing import Any

import aiohttp
import pytest

from bot.wechat.fake import FakeWeChatState, RunningFakeWeChat, run_fake_wechat, start_fake_wechat

pytest_plugins = ["tests.wechat_fakes"]
pytestmark = pytest.mark.asyncio


class FakeApi:
    """Talks to the fake as another process would: over HTTP only."""

    def __init__(self, session: aiohttp.ClientSession, fake: RunningFakeWeChat) -> None:
        self.session = session
        self.url = fake.url

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def token(self, force_refresh: bool = False) -> str:
        body = {
            "grant_type": "client_credential",
            "appid": "wx1",
            "secret": "s",
            "force_refresh": force_refresh,
        }
        return str((await self.call("POST", "/cgi-bin/stable_token", json=body))["access_token"])

    async def send_text(self, token: str, openid: str, text: str = "您好") -> int:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        answer = await self.call(
            "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body
        )
        return int(answer["errcode"])


@pytest.fixture
def api(wechat_session: aiohttp.ClientSession, fake_wechat: RunningFakeWeChat) -> FakeApi:
    return FakeApi(wechat_session, fake_wechat)


async def test_stable_token_is_reused_until_forced(api: FakeApi) -> None:
    first = await api.token()
    assert await api.token() == first
    forced = await api.token(force_refresh=True)
    assert forced != first
    stats = await api.call("GET", "/_fake/stats")
    assert (stats["token_requests"], stats["forced_refreshes"]) == (3, 1)


async def test_classic_token_endpoint_is_counted(api: FakeApi) -> None:
    answer = await api.call(
        "GET", "/cgi-bin/token", params={"grant_type": "client_credential", "appid": "wx1", "secret": "s"}
    )
    assert answer["expires_in"] == 7200
    assert (await api.call("GET", "/_fake/stats"))["token_requests"] == 1


@pytest.mark.parametrize(
    ("token", "errcode"), [("", 41001), ("not-issued", 40001)], ids=["missing", "unknown"]
)
async def test_calls_without_a_valid_token_are_refused(api: FakeApi, token: str, errcode: int) -> None:
    assert await api.send_text(token, "o-1") == errcode


async def test_expired_tokens_answer_42001_and_a_new_one_is_issued(api: FakeApi) -> None:
    token = await api.token()
    assert (await api.call("POST", "/_fake/expire-tokens"))["expired"] == 1
    assert await api.send_text(token, "o-1") == 42001
    fresh = await api.token()
    assert fresh != token
    assert await api.send_text(fresh, "o-1") == 0


async def test_messages_are_listed_by_openid_and_since(api: FakeApi) -> None:
    token = await api.token()
    for openid in ("o-1", "o-2", "o-1"):
        await api.send_text(token, openid)
    listed = await api.call("GET", "/_fake/messages", params={"openid": "o-1"})
    assert [m["index"] for m in listed] == [0, 2]
    assert listed[0]["kind"] == "text" and listed[0]["payload"]["text"]["content"] == "您好"
    assert [m["index"] for m in await api.call("GET", "/_fake/messages", params={"since": "1"})] == [1, 2]
    await api.call("DELETE", "/_fake/messages")
    assert await api.call("GET", "/_fake/messages") == []


async def test_error_for_one_openid_fails_that_openid_the_given_number_of_times(api: FakeApi) -> None:
    token = await api.token()
    await api.call("POST", "/_fake/errors", json={"openid": "o-1", "errcode": 43004, "times": 2})
    assert [await api.send_text(token, "o-1") for _ in range(3)] == [43004, 43004, 0]
    assert await api.send_text(token, "o-2") == 0
    assert (await api.call("GET", "/_fake/stats"))["errors_injected"] == 2


async def test_error_until_cleared(api: FakeApi) -> None:
    token = await api.token()
    await api.call("POST", "/_fake/errors", json={"errcode": -1, "times": None})
    assert [await api.send_text(token, f"o-{i}") for i in range(3)] == [-1, -1, -1]
    await api.call("DELETE", "/_fake/errors")
    assert await api.send_text(token, "o-1") == 0


async def test_error_rate_is_reproducible_with_a_seed(api: FakeApi) -> None:
    async def run() -> list[int]:
        await api.call("DELETE", "/_fake/errors")
        await api.call("POST", "/_fake/errors", json={"rate": 0.5, "errcode": -1, "seed": 7})
        return [await api.send_text(token, "o-1") for _ in range(20)]

    token = await api.token()
    first = await run()
    assert first == await run()
    assert 0 < first.count(-1) < 20


async def test_bad_error_rule_is_refused(api: FakeApi) -> None:
    async with api.session.post(api.url + "/_fake/errors", json={"times": 0, "errcode": 1}) as response:
        assert response.status == 400


async def test_qrcode_ticket_shows_a_valid_png(api: FakeApi) -> None:
    token = await api.token()
    body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "advisor:7"}}}
    created = await api.call("POST", "/cgi-bin/qrcode/create", params={"access_token": token}, json=body)
    async with api.session.get(
        api.url + "/cgi-bin/showqrcode", params={"ticket": created["ticket"]}
    ) as response:
        assert response.content_type == "image/png"
        png = await response.read()
    assert_valid_grayscale_png(png)
    async with api.session.get(api.url + "/cgi-bin/showqrcode", params={"ticket": "nope"}) as response:
        assert response.status == 404


def assert_valid_grayscale_png(png: bytes) -> None:
    """Walks the chunks, checking CRCs and that the pixel data has the declared size."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, offset = {}, 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        assert struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])[0] == zlib.crc32(
            kind + data
        )
        chunks[kind] = data
        offset += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (width + 1)
    assert b"IEND" in chunks


async def test_run_fake_wechat_serves_until_cancelled(
    wechat_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.wechat.fake")
    server = asyncio.create_task(run_fake_wechat("127.0.0.1", 0))
    url = await _logged_url(caplog)
    async with wechat_session.get(url + "/_fake/stats") as response:
        assert (await response.json())["token_requests"] == 0
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server


async def _logged_url(caplog: pytest.LogCaptureFixture) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        for record in caplog.records:
            if record.getMessage() == "fake wechat api listening":
                return str(record.url)  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    raise AssertionError("the fake never said where it listens")


async def test_state_given_to_start_is_the_one_served() -> None:
    state = FakeWeChatState(seed=3)
    async with start_fake_wechat(state=state) as fake:
        assert fake.state is state
        assert fake.url.startswith("http://127.0.0.1:")
