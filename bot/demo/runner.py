"""`python -m bot demo`: the whole system in one process, for a person to try or a test to drive.

`demo_stack` migrates the database, loads the demo data, starts the fake WeChat and the bot on
real sockets, mounts the chat simulator and drains the outbox every few seconds, so pushes
reach the fake (and the page) as the scheduler would send them. `python -m bot simulate`, the
tests and the benchmark use the same context manager; `run_demo` adds the start-up banner and
waits for Ctrl-C.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import sys
import unicodedata
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.app import CLOCK, SETTINGS, WECHAT, create_app
from bot.clock import Clock, SystemClock
from bot.db import database, migrate
from bot.demo import data
from bot.demo.menu import OFFICIAL_MENU
from bot.demo.page import Simulator, setup_simulator
from bot.demo.workshop_data import load_workshop_demo
from bot.services.outbox import drain
from bot.settings import Settings
from bot.wechat.fake import RunningFakeWeChat, start_fake_wechat

log = logging.getLogger(__name__)

# The demo's WeChat identity. The token is handed to the simulator page, so it must never be a
# real account's: the demo always uses these, whatever the environment says.
DEMO_TOKEN = "demo-token"
DEMO_APPID = "wx-demo-appid"
DEMO_SECRET = "demo-secret"
DRAIN_EVERY_SECONDS = 2.0


class DemoError(RuntimeError):
    """The demo cannot start (port taken, --fresh on a server database...)."""


class DemoTemplateIds(Mapping[str, str]):
    """Every service-notice template counts as approved in the demo's fake account.

    A real account lists its template ids in WECHAT_TEMPLATE_*; the demo answers any name with
    a made-up id, so template messages reach the fake and show on the page as cards.
    """

    def __init__(self, configured: Mapping[str, str]) -> None:
        self._configured = dict(configured)

    def __getitem__(self, name: str) -> str:
        return self._configured.get(name, f"demo-{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._configured)

    def __len__(self) -> int:
        return len(self._configured)


@dataclass(frozen=True)
class DemoStack:
    url: str  # the bot, e.g. http://127.0.0.1:8080
    app: web.Application
    settings: Settings  # as the bot runs with them: the fake's URL, the demo token
    fake: RunningFakeWeChat

    @property
    def simulator_url(self) -> str:
        return f"{self.url}/simulator"


def demo_settings(settings: Settings, fake_url: str) -> Settings:
    """The bot's settings in the demo: the fake WeChat, the demo identity, in-process state."""
    return settings.with_overrides(
        wechat_api_base=fake_url,
        wechat_token=DEMO_TOKEN,
        wechat_appid=DEMO_APPID,
        wechat_secret=DEMO_SECRET,
        wechat_aes_key=None,
        redis_url=None,
        template_ids=DemoTemplateIds(settings.template_ids),
        session_secret=settings.session_secret or base64.urlsafe_b64encode(os.urandom(32)).decode(),
    )


@asynccontextmanager
async def demo_stack(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    fresh: bool = False,
    drain_every: float = DRAIN_EVERY_SECONDS,
    clock: Clock | None = None,
) -> AsyncIterator[DemoStack]:
    """Run the demo until the block ends; `port=0` picks a free port (tests, `simulate`)."""
    if fresh:
        delete_sqlite_database(settings.database_url)
    await migrate(settings.database_url)
    clock = clock or SystemClock()
    async with start_fake_wechat("127.0.0.1", 0) as fake, database(settings.database_url):
        bot_settings = demo_settings(settings, fake.url)
        await data.load_demo_data(clock.now().astimezone(bot_settings.tz).date())
        await load_workshop_demo(bot_settings, clock.now())
        app = create_app(bot_settings, clock=clock)
        setup_simulator(
            app, Simulator(fake_url=fake.url, token=bot_settings.wechat_token, timezone=bot_settings.timezone)
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            url = await _listen(runner, host or settings.host, settings.port if port is None else port)
            await app[WECHAT].create_menu(OFFICIAL_MENU)
            drainer = asyncio.create_task(drain_outbox_forever(app, drain_every), name="demo-outbox")
            try:
                yield DemoStack(url=url, app=app, settings=bot_settings, fake=fake)
            finally:
                drainer.cancel()
                with suppress(asyncio.CancelledError):
                    await drainer
        finally:
            await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int) -> str:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        raise DemoError(f"cannot listen on {host}:{port} ({exc.strerror}); try --port or BOT_PORT") from exc
    bound_host, bound_port = runner.addresses[0][:2]
    return f"http://{bound_host}:{bound_port}"


def delete_sqlite_database(database_url: str) -> None:
    """`--fresh`: remove the demo's SQLite file (and its journal files)."""
    if not database_url.startswith("sqlite://"):
        raise DemoError("--fresh only deletes an SQLite demo database; BOT_DATABASE_URL is not SQLite")
    path = Path(database_url.removeprefix("sqlite://"))
    for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)


async def drain_outbox_forever(app: web.Application, every: float) -> None:
    """What the scheduler's `send-outbox` job does, every few seconds, inside the demo process."""
    while True:
        try:
            await drain(app[WECHAT], app[SETTINGS], app[CLOCK])
        except Exception:
            log.exception("demo outbox drain failed")
        await asyncio.sleep(every)


async def run_demo(settings: Settings, *, port: int | None = None, fresh: bool = False) -> None:
    """Serve the demo until Ctrl-C (or SIGTERM), then shut everything down cleanly."""
    logging.getLogger("bot.services.outbox").setLevel(logging.WARNING)  # a drain every 2 s is noise
    try:
        async with demo_stack(settings, port=port, fresh=fresh) as stack:
            print(banner(stack, settings.database_url), flush=True)
            await until_stopped()
    except DemoError as exc:
        sys.exit(f"error: {exc}")
    print("demo stopped")


async def until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM, without a KeyboardInterrupt traceback."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def banner(stack: DemoStack, database_url: str) -> str:
    """The start-up text: where everything is, and who a person can log in or bind as."""
    stores = {seed.code: seed.name for seed in data.STORES}
    staff_names = {seed.username: seed.name for seed in data.STAFF}
    staff_rows = [
        (
            seed.role.value,
            seed.username,
            data.DEMO_PASSWORD,
            seed.name,
            stores.get(seed.store_code or "", "全部门店"),
        )
        for seed in data.STAFF
    ]
    customer_rows = [
        (
            seed.name,
            seed.phone,
            "、".join(car.plate for car in seed.vehicles),
            stores[seed.store_code],
            staff_names.get(seed.advisor_username or "", "-"),
        )
        for seed in data.CUSTOMERS
    ]
    return "\n".join(
        [
            "",
            "售后服务号 demo is running (Ctrl-C to stop)",
            f"  chat simulator   {stack.simulator_url}",
            f"  WeChat endpoint  {stack.url}/wechat  (token {stack.settings.wechat_token})",
            f"  staff web app    {stack.url}/admin/  (log in with a username below)",
            f"  fake WeChat API  {stack.fake.url}/_fake/messages",
            f"  database         {database_url}",
            "",
            "Staff logins (every role):",
            _table(("role", "username", "password", "name", "store"), staff_rows),
            "",
            "Demo customers (bind in the simulator with phone + plate):",
            _table(("name", "phone", "plate", "store", "advisor"), customer_rows),
            "",
        ]
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns lined up in a terminal, where a Chinese character takes two cells."""
    widths = [max(_cells(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        ("  " + "  ".join(v + " " * (w - _cells(v)) for v, w in zip(line, widths, strict=True))).rstrip()
        for line in lines
    )


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
