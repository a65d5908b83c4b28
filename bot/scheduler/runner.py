"""Running jobs: once by hand (`jobs run NAME --at`), or all on timers (`scheduler`).

Jobs claim their work in the database, so the scheduler may run on several machines or be
restarted at any moment; APScheduler only decides when to look.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from bot.clock import Clock, FrozenClock, SystemClock
from bot.db import database
from bot.scheduler.registry import JobContext, registered_jobs
from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.token_cache import MemoryTokenCache, RedisTokenCache, TokenCache

log = logging.getLogger(__name__)

INTERVAL_SECONDS = {"send-outbox": 15, "escalate-complaints": 60}
DEFAULT_INTERVAL_SECONDS = 15 * 60
STOP_GRACE_SECONDS = 20  # less than the stop_grace_period docker-compose.yml gives the scheduler


@asynccontextmanager
async def job_context(settings: Settings, clock: Clock) -> AsyncIterator[JobContext]:
    """Database, Redis (when configured) and a WeChat client for the duration of some jobs."""
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    tokens: TokenCache = (
        RedisTokenCache(redis, key=f"wechat:{settings.wechat_appid}:access_token")
        if redis
        else MemoryTokenCache()
    )
    try:
        async with database(settings.database_url), aiohttp.ClientSession() as session:
            yield JobContext(settings=settings, clock=clock, wechat=WeChatClient(session, settings, tokens))
    finally:
        if redis is not None:
            await redis.aclose()


async def run_job_once(settings: Settings, name: str, *, at: datetime | None = None) -> str:
    jobs = registered_jobs()
    if name not in jobs:
        raise KeyError(f"no job {name!r}; known: {', '.join(sorted(jobs))}")
    clock: Clock = FrozenClock(at) if at else SystemClock()
    async with job_context(settings, clock) as ctx:
        return await jobs[name](ctx)


async def run_scheduler(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run every job on its timer until `stop` is set, or, as a process, until SIGTERM/SIGINT.

    On stop no job starts any more and running ones get STOP_GRACE_SECONDS to finish; one cut
    short leaves only leased outbox rows, which the next run picks up.
    """
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    running: set[asyncio.Task[None]] = set()
    async with job_context(settings, SystemClock()) as ctx:
        scheduler = AsyncIOScheduler(timezone=settings.tz)
        for name, job in registered_jobs().items():
            scheduler.add_job(
                _logged(name, job, ctx, running),
                "interval",
                seconds=INTERVAL_SECONDS.get(name, DEFAULT_INTERVAL_SECONDS),
                id=name,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(settings.tz),
            )
        scheduler.start()
        log.info("scheduler started", extra={"jobs": sorted(registered_jobs())})
        try:
            await stop.wait()
            scheduler.pause()
            if running:
                await asyncio.wait(set(running), timeout=STOP_GRACE_SECONDS)
        finally:
            scheduler.shutdown(wait=False)
            log.info("scheduler stopped")


def _logged(name, job, ctx, running):  # type: ignore[no-untyped-def]
    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            log.info("job finished", extra={"job": name, "result": await job(ctx)})
        except Exception:
            log.exception("job failed", extra={"job": name})
        finally:
            running.discard(task)

    return run
