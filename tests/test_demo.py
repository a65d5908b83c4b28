"""The demo: its data, its in-process stack (bot + fake WeChat + simulator), the terminal chat."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.app import CLOCK
from bot.db import migrate
from bot.demo import data
from bot.demo.menu import OFFICIAL_MENU, menu_entries
from bot.demo.runner import DemoError, DemoStack, banner, delete_sqlite_database, demo_stack
from bot.demo.terminal import chat
from bot.models import Customer, Follower, InsurancePolicy, MessageCategory, Role, Staff, Store, Vehicle
from bot.services.outbox import enqueue
from bot.settings import Settings
from bot.wechat.simulator import WeChatUser
from tests.backends import Backend, forget_dialect

SPEC_MENU_KEYS = {
    "BOOK",
    "MY_BOOKINGS",
    "PROGRESS",
    "RESCUE",
    "COMPLAINT",
    "POINTS",
    "REDEEM",
    "BIND",
    "ADVISOR",
}


async def _counts() -> dict[str, int]:
    models = (Store, Staff, Customer, Vehicle, InsurancePolicy)
    return {model.__name__: await model.all().count() for model in models}


async def test_demo_data_loads_twice_without_duplicates(db: Backend, clock) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().date()
    await data.load_demo_data(today)
    first = await _counts()
    await data.load_demo_data(today + timedelta(days=3))

    assert await _counts() == first
    assert first["Store"] == 2 and 3 <= first["Customer"] <= 5


async def test_demo_data_has_every_role_and_the_cases_features_need(db: Backend, clock) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().date()
    await data.load_demo_data(today)

    assert {staff.role for staff in await Staff.all()} == set(Role)
    advisors = await Staff.filter(role=Role.ADVISOR)
    assert advisors and all(advisor.qr_scene for advisor in advisors)
    assert all(staff.username and staff.password_hash for staff in await Staff.all())
    assert any(len(v.plate) == 8 for v in await Vehicle.all())  # a new-energy plate
    assert await InsurancePolicy.filter(ends_on__gte=today, ends_on__lte=today + timedelta(days=30)).exists()
    assert all(store.latitude and store.phone and store.rescue_radius_km for store in await Store.all())


async def test_policy_dates_follow_the_day_the_demo_starts(db: Backend, clock) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().date()
    await data.load_demo_data(today)
    later = today + timedelta(days=40)
    await data.load_demo_data(later)

    assert await InsurancePolicy.filter(ends_on__gte=later, ends_on__lte=later + timedelta(days=30)).exists()


def test_menu_covers_every_spec_key_within_wechat_limits() -> None:
    assert {key for key, _ in menu_entries()} == SPEC_MENU_KEYS
    buttons = OFFICIAL_MENU["button"]
    assert len(buttons) <= 3 and all(len(b["sub_button"]) <= 5 for b in buttons)


@pytest.fixture
def demo_database(tmp_path: Path) -> str:
    """An SQLite file migrated as the demo migrates it (the demo's own migrate then finds
    nothing to do).

    Built in its own thread and event loop so that the Tortoise context it opens and closes is
    not the test's.
    """
    url = f"sqlite://{tmp_path}/demo.sqlite3"
    forget_dialect()
    thread = threading.Thread(target=asyncio.run, args=(migrate(url),))
    thread.start()
    thread.join()
    return url


@pytest.fixture
async def stack(demo_database: str) -> AsyncIterator[DemoStack]:
    settings = Settings(database_url=demo_database, port=0)
    async with demo_stack(settings, port=0, drain_every=0.05) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _customer(stack: DemoStack, session: aiohttp.ClientSession, seed: data.CustomerSeed) -> WeChatUser:
    return WeChatUser(
        base_url=stack.url, session=session, openid=seed.openid, token=stack.settings.wechat_token
    )


async def _until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_demo_customer_binds_and_asks_for_the_advisor(
    stack: DemoStack, session: aiohttp.ClientSession
) -> None:
    zhang = data.CUSTOMERS[0]
    user = _customer(stack, session, zhang)

    assert "手机号" in (await user.click("BIND")).text
    await user.text(zhang.phone)
    bound = await user.text(zhang.vehicles[0].plate)
    advisor = await user.click("ADVISOR")

    assert "绑定成功" in bound.text
    assert "李明" in advisor.text and "13900000001" in advisor.text
    follower = await Follower.get(openid=zhang.openid).prefetch_related("customer")
    assert follower.customer is not None and follower.customer.phone == zhang.phone


async def test_demo_creates_the_menu_and_delivers_pushes_to_the_fake(
    stack: DemoStack, session: aiohttp.ClientSession
) -> None:
    user = _customer(stack, session, data.CUSTOMERS[1])
    await user.text("你好")  # opens the customer-service window
    await enqueue(
        openid=user.openid,
        text="您的车辆已完成保养，可以取车了。",
        category=MessageCategory.SERVICE,
        dedup_key="demo-test-ready",
        now=_now(stack),
    )

    await _until(lambda: any(m.openid == user.openid for m in stack.fake.state.messages))
    assert stack.fake.state.menus == [OFFICIAL_MENU]
    async with session.get(f"{stack.url}/simulator/pushed", params={"openid": user.openid}) as response:
        pushed = await response.json()
    assert pushed[0]["payload"]["text"]["content"] == "您的车辆已完成保养，可以取车了。"


def _now(stack: DemoStack) -> datetime:
    return stack.app[CLOCK].now()


@pytest.mark.parametrize("query", [{}, {"openid": "x", "since": "-1"}, {"openid": "x", "since": "abc"}])
async def test_pushed_proxy_refuses_bad_queries(
    stack: DemoStack, session: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    async with session.get(f"{stack.url}/simulator/pushed", params=query) as response:
        assert response.status == 400


async def test_simulator_page_embeds_the_config_safely(
    stack: DemoStack, session: aiohttp.ClientSession
) -> None:
    async with session.get(stack.simulator_url) as response:
        html = await response.text()
        headers = response.headers
    assert response.status == 200
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert '"token": "demo-token"' in html and "张伟" in html
    assert '<script src="http' not in html  # everything is served locally


async def test_the_bare_address_leads_to_the_simulator(
    stack: DemoStack, session: aiohttp.ClientSession
) -> None:
    async with session.get(stack.url) as response:
        assert response.status == 200
        assert str(response.url) == stack.simulator_url
        assert "张伟" in await response.text()


async def test_terminal_chat_binds_and_prints_pushes(
    stack: DemoStack, session: aiohttp.ClientSession
) -> None:
    li = data.CUSTOMERS[2]
    user = _customer(stack, session, li)
    printed: list[str] = []
    pushed_seen = asyncio.Event()

    async def typed() -> AsyncIterator[str]:
        for line in ("/menu BIND", li.phone, li.vehicles[0].plate, "/menu 我的顾问", "/loc 1", "/nonsense"):
            yield line
        await enqueue(
            openid=li.openid,
            text="保险还有20天到期",
            category=MessageCategory.SERVICE,
            dedup_key="demo-test-terminal",
            now=_now(stack),
        )
        await asyncio.wait_for(pushed_seen.wait(), timeout=5)
        yield "/quit"

    def write(line: str) -> None:
        printed.append(line)
        if "保险还有20天到期" in line:
            pushed_seen.set()

    await chat(stack, user, typed(), write, poll_every=0.05)

    output = "\n".join(printed)
    assert "绑定成功" in output and "李明" in output
    assert "unknown command /nonsense" in output
    assert "bot (pushed): 保险还有20天到期" in output


def test_banner_lists_a_login_for_every_role_and_every_demo_customer(stack: DemoStack) -> None:
    text = banner(stack, "sqlite://var/bot.sqlite3")

    for role in Role:
        assert role.value in text
    for seed in data.STAFF:
        assert seed.username in text
    for customer in data.CUSTOMERS:
        assert customer.phone in text and customer.vehicles[0].plate in text
    assert data.DEMO_PASSWORD in text and f"{stack.url}/simulator" in text and f"{stack.url}/admin/" in text


async def test_stack_starts_again_in_the_same_task(demo_database: str) -> None:
    """Regression: aerich's migrate failed once Tortoise had been initialised and closed in the task."""
    settings = Settings(database_url=demo_database, port=0)
    for _ in range(2):
        async with demo_stack(settings, port=0) as running:
            assert await Staff.all().count() == len(data.STAFF)
            assert running.url.startswith("http://127.0.0.1:")


def test_fresh_deletes_the_sqlite_file_and_its_journals(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    leftovers = [database, tmp_path / "demo.sqlite3-wal", tmp_path / "demo.sqlite3-shm"]
    for path in leftovers:
        path.write_bytes(b"old")
    keep = tmp_path / "other.sqlite3"
    keep.write_bytes(b"keep")

    delete_sqlite_database(f"sqlite://{database}")

    assert not any(path.exists() for path in leftovers) and keep.exists()


async def test_fresh_refuses_a_server_database() -> None:
    settings = Settings(database_url="postgres://127.0.0.1/bot")
    with pytest.raises(DemoError, match="SQLite"):
        async with demo_stack(settings, port=0, fresh=True):
            pass
