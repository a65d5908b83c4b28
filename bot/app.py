"""The aiohttp application factory: one cleanup context per resource, typed app keys.

`create_app(settings)` builds the web process. Everything stateful is here, so the domain code
never takes the app or a request: handlers get a Context, services get explicit arguments.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from tortoise import Tortoise

from admin import setup as setup_admin
from bot.clock import Clock, SystemClock
from bot.conversation.context import Services
from bot.conversation.dedup import MemoryReplyCache, RedisReplyCache, ReplyCache
from bot.conversation.engine import Engine
from bot.conversation.router import Router
from bot.conversation.storage import FlowStorage, MemoryFlowStorage, RedisFlowStorage
from bot.conversation.texts import Texts
from bot.db import close_db, init_db
from bot.handlers import build_routes
from bot.redis_pipeline import RedisPipeline
from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.endpoint import Endpoint
from bot.wechat.late_replies import LateReplies
from bot.wechat.token_cache import MemoryTokenCache, RedisTokenCache, TokenCache

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
REDIS = web.AppKey("redis", Redis)
REDIS_PIPELINE = web.AppKey("redis_pipeline", RedisPipeline)
WECHAT = web.AppKey("wechat", WeChatClient)
ENGINE = web.AppKey("engine", Engine)
LATE_REPLIES = web.AppKey("late_replies", LateReplies)
ENDPOINT = web.AppKey("endpoint", Endpoint)


@dataclass(frozen=True)
class SharedState:
    """Where per-customer state lives: Redis when configured, else this process's memory."""

    flows: FlowStorage
    replies: ReplyCache
    tokens: TokenCache

    @classmethod
    def of(cls, app: web.Application) -> SharedState:
        redis, appid = app.get(REDIS), app[SETTINGS].wechat_appid
        if redis is None:
            replies = MemoryReplyCache()
            return cls(MemoryFlowStorage(replies.store), replies, MemoryTokenCache())
        pipeline = app[REDIS_PIPELINE]
        flows = RedisFlowStorage(pipeline)
        return cls(
            flows,
            RedisReplyCache(pipeline, flows),
            RedisTokenCache(redis, key=f"wechat:{appid}:access_token"),
        )


SHARED_STATE = web.AppKey("shared_state", SharedState)


def create_app(
    settings: Settings, *, clock: Clock | None = None, extra_routers: tuple[Router, ...] = ()
) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes * 2)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app.cleanup_ctx.extend([_database, _redis, _shared_state, _wechat, _conversation(extra_routers)])
    app.router.add_get("/wechat", wechat_verify)
    app.router.add_post("/wechat", wechat_receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    setup_admin(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    if Tortoise._inited:  # the demo and tests may have opened it already
        yield
        return
    await init_db(app[SETTINGS].database_url)
    yield
    await close_db()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    if url is None:
        yield
        return
    redis = Redis.from_url(url)
    await redis.ping()
    app[REDIS], app[REDIS_PIPELINE] = redis, RedisPipeline.from_url(url)
    yield
    await app[REDIS_PIPELINE].aclose()
    await redis.aclose()


async def _shared_state(app: web.Application) -> AsyncIterator[None]:
    """One set of state objects for the whole app (the client's tokens, the engine's flows)."""
    app[SHARED_STATE] = SharedState.of(app)
    yield


async def _wechat(app: web.Application) -> AsyncIterator[None]:
    settings, state = app[SETTINGS], app[SHARED_STATE]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[WECHAT] = WeChatClient(session, settings, state.tokens)
        yield


def _conversation(extra_routers: tuple[Router, ...]):  # type: ignore[no-untyped-def]
    async def conversation(app: web.Application) -> AsyncIterator[None]:
        settings, clock, state = app[SETTINGS], app[CLOCK], app[SHARED_STATE]
        services = Services(
            settings=settings, clock=clock, texts=Texts(settings.templates_dir), wechat=app[WECHAT]
        )
        engine = Engine(build_routes(*extra_routers), state.flows, services)
        late = LateReplies(settings, clock, app[WECHAT], services.texts)
        app[ENGINE], app[LATE_REPLIES] = engine, late
        app[ENDPOINT] = Endpoint(settings, clock, engine, state.replies, late)
        yield
        await late.wait_idle()

    return conversation


async def wechat_verify(request: web.Request) -> web.Response:
    return await request.app[ENDPOINT].verify(request)


async def wechat_receive(request: web.Request) -> web.Response:
    return await request.app[ENDPOINT].receive(request)


async def healthz(request: web.Request) -> web.Response:
    """Database and (when configured) Redis reachable: what a load balancer should probe."""
    checks: dict[str, str] = {}
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    redis = request.app.get(REDIS)
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
