"""A fake of WeChat's Official Account API, served over real HTTP for tests, the demo and the bench.

It checks access tokens the way WeChat does (40001 unknown, 42001 expired), records every message
it is sent, and fails on request: `POST /_fake/errors` with `{"openid": ..., "errcode": 43004,
"times": 2}` (`times` null: until cleared) or `{"rate": 0.1, "errcode": -1, "seed": 7}`;
`DELETE /_fake/errors` clears the rules. `GET /_fake/messages?openid=&since=` lists what was
sent, `GET /_fake/stats` counts token requests, and `POST /_fake/expire-tokens` expires every
token issued so far.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

logger = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 7200
QR_ACTIONS = frozenset({"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40016: "invalid button size",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
}


@dataclass
class SentMessage:
    index: int
    kind: str  # "text" (or another customer-service msgtype) or "template"
    openid: str
    payload: dict[str, Any]
    time: float


@dataclass
class ErrorRule:
    """Answer matching calls with `errcode`: those for `openid` (or all), `times` times or until cleared."""

    errcode: int
    openid: str | None = None
    times: int | None = None
    rate: float | None = None  # chance per matching call; None: every matching call


@dataclass
class FakeWeChatState:
    """Everything the fake knows; tests read it directly, other processes through `/_fake/*`."""

    seed: int = 0
    now: Callable[[], float] = time.time
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    stable_token: str | None = None
    token_requests: int = 0
    forced_refreshes: int = 0
    api_calls: int = 0
    errors_injected: int = 0
    messages: list[SentMessage] = field(default_factory=list)
    menus: list[dict[str, Any]] = field(default_factory=list)
    qrcodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # ticket -> the create request
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # openid -> user/info overrides
    error_rules: list[ErrorRule] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def issue_token(self, *, stable: bool, force_refresh: bool = False) -> tuple[str, int]:
        """A stable token is reused while valid unless forced; the classic endpoint always issues anew."""
        self.token_requests += 1
        self.forced_refreshes += force_refresh
        now = self.now()
        current = self.stable_token
        if stable and not force_refresh and current is not None and self.tokens.get(current, 0) > now:
            return current, int(self.tokens[current] - now)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now + TOKEN_LIFETIME_SECONDS
        if stable:
            self.stable_token = token
        return token, TOKEN_LIFETIME_SECONDS

    def expire_tokens(self) -> int:
        now = self.now()
        for token in self.tokens:
            self.tokens[token] = min(self.tokens[token], now)
        return len(self.tokens)

    def token_error(self, token: str | None) -> int | None:
        if not token:
            return 41001
        if token not in self.tokens:
            return 40001
        return 42001 if self.tokens[token] <= self.now() else None

    def inject(
        self, errcode: int, *, openid: str | None = None, times: int | None = None, rate: float | None = None
    ) -> ErrorRule:
        """Fail matching calls from now on; what `POST /_fake/errors` does, for in-process tests."""
        if (times is not None and times < 1) or (rate is not None and not 0 <= rate <= 1):
            raise ValueError("times must be at least 1 and rate between 0 and 1")
        rule = ErrorRule(errcode=errcode, openid=openid, times=times, rate=rate)
        self.error_rules.append(rule)
        return rule

    def injected_error(self, openid: str | None) -> int | None:
        """The errcode the first matching rule asks for, consuming one of its `times`."""
        for rule in self.error_rules:
            if rule.openid is not None and rule.openid != openid:
                continue
            if rule.rate is not None and self.rng.random() >= rule.rate:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.error_rules.remove(rule)
            self.errors_injected += 1
            return rule.errcode
        return None

    def record(self, kind: str, openid: str, payload: dict[str, Any]) -> SentMessage:
        message = SentMessage(len(self.messages), kind, openid, payload, self.now())
        self.messages.append(message)
        logger.debug("fake wechat received message", extra={"kind": kind, "openid": openid})
        return message

    def stats(self) -> dict[str, int]:
        return {
            "token_requests": self.token_requests,
            "forced_refreshes": self.forced_refreshes,
            "tokens_issued": len(self.tokens),
            "api_calls": self.api_calls,
            "errors_injected": self.errors_injected,
            "messages": len(self.messages),
        }


STATE = web.AppKey("state", FakeWeChatState)
ApiHandler = Callable[[FakeWeChatState, web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def _answer(errcode: int = 0, **fields: Any) -> web.Response:
    errmsg = "ok" if errcode == 0 else ERRMSG.get(errcode, "injected error")
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **fields})


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _api(handler: ApiHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Check the token, then the injected errors, as WeChat would before doing anything."""

    async def checked(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        state.api_calls += 1
        body = await _json_body(request) if request.method == "POST" else {}
        if body is None:
            return _answer(47001)
        errcode = state.token_error(request.query.get("access_token"))
        if errcode is None:
            errcode = state.injected_error(body.get("touser") or request.query.get("openid"))
        if errcode is not None:
            return _answer(errcode)
        return await handler(state, request, body)

    return checked


async def stable_token(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if body is None:
        return _answer(47001)
    if body.get("grant_type") != "client_credential":
        return _answer(40002)
    if not body.get("appid"):
        return _answer(40013)
    if not body.get("secret"):
        return _answer(40125)
    token, expires_in = request.app[STATE].issue_token(
        stable=True, force_refresh=bool(body.get("force_refresh"))
    )
    return web.json_response({"access_token": token, "expires_in": expires_in})


async def classic_token(request: web.Request) -> web.Response:
    if not request.query.get("appid"):
        return _answer(40013)
    if not request.query.get("secret"):
        return _answer(40125)
    token, expires_in = request.app[STATE].issue_token(stable=False)
    return web.json_response({"access_token": token, "expires_in": expires_in})


@_api
async def custom_send(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    msgtype = body.get("msgtype")
    if not body.get("touser") or not isinstance(msgtype, str) or not isinstance(body.get(msgtype), dict):
        return _answer(47001)
    state.record(msgtype, body["touser"], body)
    return _answer()


@_api
async def template_send(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    if not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
        return _answer(47001)
    message = state.record("template", body["touser"], body)
    return _answer(msgid=message.index + 1)


@_api
async def menu_create(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    if not isinstance(body.get("button"), list) or not 1 <= len(body["button"]) <= 3:
        return _answer(40016)
    state.menus.append(body)
    return _answer()


@_api
async def qrcode_create(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    if body.get("action_name") not in QR_ACTIONS or not isinstance(body.get("action_info"), dict):
        return _answer(47001)
    ticket = secrets.token_urlsafe(32)
    state.qrcodes[ticket] = body
    extra = {"expire_seconds": body["expire_seconds"]} if "expire_seconds" in body else {}
    return web.json_response({"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}", **extra})


async def show_qrcode(request: web.Request) -> web.Response:
    ticket = request.query.get("ticket", "")
    if ticket not in request.app[STATE].qrcodes:
        raise web.HTTPNotFound(text="unknown ticket")
    return web.Response(body=placeholder_png(ticket), content_type="image/png")


@_api
async def user_info(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    openid = request.query.get("openid")
    if not openid:
        return _answer(40003)
    profile = {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": int(state.now())}
    return web.json_response(profile | state.users.get(openid, {}))


@_api
async def media_get(state: FakeWeChatState, request: web.Request, body: dict[str, Any]) -> web.Response:
    media_id = request.query.get("media_id", "")
    response = web.Response(body=placeholder_png(media_id), content_type="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="{media_id}.png"'
    return response


async def expire_tokens(request: web.Request) -> web.Response:
    return web.json_response({"expired": request.app[STATE].expire_tokens()})


async def add_error_rule(request: web.Request) -> web.Response:
    body = await _json_body(request)
    state = request.app[STATE]
    try:
        if body is None:
            raise ValueError("expected a JSON object")
        if "seed" in body:
            state.rng.seed(body["seed"])
        state.inject(
            int(body["errcode"]),
            openid=body.get("openid"),
            times=None if body.get("times") is None else int(body["times"]),
            rate=None if body.get("rate") is None else float(body["rate"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"bad error rule: {exc}") from exc
    return web.json_response({"rules": [asdict(r) for r in state.error_rules]})


async def clear_error_rules(request: web.Request) -> web.Response:
    request.app[STATE].error_rules.clear()
    return web.json_response({"rules": []})


async def list_messages(request: web.Request) -> web.Response:
    openid = request.query.get("openid")
    try:
        since = int(request.query.get("since", "0"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="since must be a message index") from exc
    messages = request.app[STATE].messages[since:]
    return web.json_response([asdict(m) for m in messages if openid is None or m.openid == openid])


async def clear_messages(request: web.Request) -> web.Response:
    request.app[STATE].messages.clear()
    return web.json_response([])


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


def create_fake_wechat_app(state: FakeWeChatState | None = None) -> web.Application:
    app = web.Application()
    app[STATE] = state if state is not None else FakeWeChatState()
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_get("/cgi-bin/token", classic_token)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    app.router.add_post("/cgi-bin/menu/create", menu_create)
    app.router.add_post("/cgi-bin/qrcode/create", qrcode_create)
    app.router.add_get("/cgi-bin/showqrcode", show_qrcode)
    app.router.add_get("/cgi-bin/user/info", user_info)
    app.router.add_get("/cgi-bin/media/get", media_get)
    app.router.add_post("/_fake/expire-tokens", expire_tokens)
    app.router.add_post("/_fake/errors", add_error_rule)
    app.router.add_delete("/_fake/errors", clear_error_rules)
    app.router.add_get("/_fake/messages", list_messages)
    app.router.add_delete("/_fake/messages", clear_messages)
    app.router.add_get("/_fake/stats", stats)
    return app


@dataclass(frozen=True)
class RunningFakeWeChat:
    url: str  # what WECHAT_API_BASE should be set to
    state: FakeWeChatState


@asynccontextmanager
async def start_fake_wechat(
    host: str = "127.0.0.1", port: int = 0, state: FakeWeChatState | None = None
) -> AsyncIterator[RunningFakeWeChat]:
    """Serve the fake on a real socket (port 0: any free port) until the block ends."""
    app = create_fake_wechat_app(state)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield RunningFakeWeChat(
            url=str(URL.build(scheme="http", host=bound_host, port=bound_port)), state=app[STATE]
        )
    finally:
        await runner.cleanup()


async def run_fake_wechat(host: str = "127.0.0.1", port: int = 8081) -> None:
    """`python -m bot fake-wechat`: serve until cancelled."""
    async with start_fake_wechat(host, port) as fake:
        logger.info("fake wechat api listening", extra={"url": fake.url})
        await asyncio.Event().wait()


def placeholder_png(text: str, modules: int = 25, scale: int = 6) -> bytes:
    """A QR-looking grayscale PNG derived from `text`: a valid image, though not a scannable code."""
    bits = int.from_bytes(hashlib.sha512(text.encode()).digest() * 2, "big")

    def dark(x: int, y: int) -> bool:
        for cx, cy in ((3, 3), (modules - 4, 3), (3, modules - 4)):  # the three finder squares
            ring = max(abs(x - cx), abs(y - cy))
            if ring <= 4:
                return ring not in (2, 4)
        return bool(bits >> (y * modules + x) & 1)

    rows = b"".join(
        b"\x00" + bytes(0 if dark(x // scale, y // scale) else 255 for x in range(modules * scale))
        for y in range(modules * scale)
    )
    size = modules * scale

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
