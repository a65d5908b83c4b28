"""The complaint pages in headless Chromium, at desktop and phone (390x844) sizes.

An advisor sees only their complaints, opens one and responds, and the answer reaches the
customer's WeChat once the outbox drains; a manager reassigns from the escalation board; the
countdown script ticks and recolours. Every page is screenshotted (screenshots/admin-complaints-*).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page

from bot.app import WECHAT
from bot.models import Complaint, ComplaintEvent, ComplaintPhoto, Follower, Outbox
from bot.models.complaint import EventKind
from bot.services import outbox
from bot.services.complaints import escalation
from tests.browser import screenshot_path
from tests.conftest import Bot, MakeBot
from tests.test_admin_browser import Admin
from tests.test_admin_support import Team, make_team
from tests.test_complaint_support import NOTICES, TEMPLATE_IDS, file_by_chat, file_direct

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

CUSTOMER = "o-browser-customer"
DESCRIPTION = "保养后发动机异响，<b>技师</b>说是正常的，我不认可。\n昨天开到高速上声音更大了。"


@dataclass
class Scene:
    admin: Admin
    team: Team
    mine: Complaint  # filed in chat by the advisor's customer, with a photo
    colleagues: Complaint
    other_store: Complaint


@pytest_asyncio.fixture
async def scene(make_bot: MakeBot, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    bot = await make_bot(template_ids=TEMPLATE_IDS, media_dir=tmp_path_factory.mktemp("media"))
    team = await make_team()
    await Follower.create(openid=CUSTOMER, customer=team.my_customer)
    mine = await file_by_chat(bot, bot.user(CUSTOMER), description=DESCRIPTION)
    bot.clock.advance(minutes=20)
    colleagues = await file_direct(bot.clock.now(), customer=team.colleague_customer, openid="o-colleague")
    other = await file_direct(bot.clock.now(), customer=team.other_customer, openid="o-other")
    helper = Admin(bot, team, [])
    yield Scene(helper, team, mine, colleagues, other)
    assert not helper.problems, helper.problems


async def add_photo(bot: Bot, page: Page, complaint: Complaint) -> None:
    """A stored photo: a picture Chromium draws, saved where the photo job would have put it."""
    await page.set_content(
        "<div style='width:320px;height:240px;background:linear-gradient(135deg,#64748b,#e2e8f0)'></div>"
    )
    picture = await page.locator("div").screenshot()
    relative = f"complaints/{complaint.id}/engine.png"
    (bot.settings.media_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (bot.settings.media_dir / relative).write_bytes(picture)
    now = bot.clock.now()
    await ComplaintPhoto.create(
        complaint=complaint,
        media_id="m-engine",
        received_at=now,
        next_attempt_at=now,
        path=relative,
        fetched_at=now,
    )


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=screenshot_path(f"admin-complaints-{name}"), full_page=True)


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px"


async def test_an_advisor_sees_only_theirs_and_responds(scene: Scene, desktop: BrowserContext) -> None:
    admin, bot = scene.admin, scene.admin.bot
    page = await admin.open(desktop)
    await add_photo(bot, page, scene.mine)
    await admin.log_in(page, "advisor")

    await page.click(".nav-links a:has-text('投诉')")
    await page.wait_for_url(f"{bot.url}/admin/complaints/mine")
    listed = await page.inner_text("main")
    assert scene.mine.number in listed
    assert scene.colleagues.number not in listed and scene.other_store.number not in listed
    await shoot(page, "mine-desktop")

    await page.click(f"a:has-text('{scene.mine.number}')")
    await page.wait_for_url(f"{bot.url}/admin/complaints/{scene.mine.id}")
    assert "<b>技师</b>说是正常的" in await page.inner_text(".description")  # shown as text
    assert await page.locator(".photos img").evaluate("img => img.naturalWidth") == 320
    await shoot(page, "detail-desktop")

    await page.fill("#f-text", "您好，我是您的服务顾问。今天下午三点安排技师和您一起试车复查。")
    await page.click("button:has-text('发送回复')")
    await page.wait_for_url(f"{bot.url}/admin/complaints/{scene.mine.id}")
    assert "已发送回复" in await page.inner_text(".flash")
    assert "今天下午三点安排技师" in await page.inner_text(".trail")
    await shoot(page, "responded-desktop")
    await page.reload()  # after post/redirect/get, a refresh sends nothing again

    report = await outbox.drain(bot.app[WECHAT], bot.settings, bot.clock)
    to_customer = [m for m in bot.wechat.state.messages if m.openid == CUSTOMER]
    assert len(to_customer) == 1, report
    assert "今天下午三点安排技师" in str(to_customer[0].payload)
    assert await Outbox.filter(openid=CUSTOMER).count() == 1

    assert await admin.visit(page, f"/admin/complaints/{scene.colleagues.id}") == 404


async def test_an_advisors_pages_on_a_phone(scene: Scene, phone: BrowserContext) -> None:
    admin, bot = scene.admin, scene.admin.bot
    page = await admin.open(phone)
    await add_photo(bot, page, scene.mine)
    await admin.log_in(page, "advisor")
    for path, name in (
        ("/admin/complaints/mine", "mine-phone"),
        (f"/admin/complaints/{scene.mine.id}", "detail-phone"),
        ("/admin/complaints/list", "list-advisor-phone"),
    ):
        assert await admin.visit(page, path) == 200
        await shoot(page, name)
        await no_sideways_scroll(page)


async def test_a_manager_reassigns_from_the_escalation_board(scene: Scene, desktop: BrowserContext) -> None:
    admin, bot, team = scene.admin, scene.admin.bot, scene.team
    bot.clock.advance(hours=24, minutes=5)
    await escalation.run(NOTICES, bot.clock.now())  # both of store A's complaints reach level 1
    page = await admin.open(desktop)
    await admin.log_in(page, "service_manager")

    await page.click(".nav-links a:has-text('投诉')")
    await page.wait_for_url(f"{bot.url}/admin/complaints/board")
    board = page.locator("section:has(h2:has-text('升级看板')) tbody")
    assert await board.locator("tr").count() == 2
    assert scene.other_store.number not in await board.inner_text()
    assert "1 级升级" in await board.inner_text()
    await shoot(page, "board-desktop")

    row = board.locator(f"tr:has-text('{scene.mine.number}')")
    await row.locator("a:has-text('转派')").click()
    await page.wait_for_url(f"{bot.url}/admin/complaints/{scene.mine.id}#reassign")
    await page.select_option("#f-to", str(team.colleague.id))
    await page.fill("#f-reason", "李顾问今天休假，由周顾问跟进")
    await page.click("#reassign button:has-text('转派')")
    await page.wait_for_url(f"{bot.url}/admin/complaints/{scene.mine.id}")
    assert "已转派" in await page.inner_text(".flash")
    assert "转派给 周顾问" in await page.inner_text(".trail")
    await shoot(page, "reassigned-desktop")
    assert (await Complaint.get(id=scene.mine.id)).assignee_id == team.colleague.id
    assert await ComplaintEvent.exists(complaint_id=scene.mine.id, kind=EventKind.REASSIGNED)

    await page.goto(f"{bot.url}/admin/complaints/list?escalated=yes")
    await shoot(page, "list-manager-desktop")


async def test_the_gm_sees_every_store_on_a_phone(scene: Scene, phone: BrowserContext) -> None:
    admin, bot = scene.admin, scene.admin.bot
    bot.clock.advance(hours=49)
    await escalation.run(NOTICES, bot.clock.now())  # level 1 and level 2
    page = await admin.open(phone)
    await admin.log_in(page, "gm")
    assert await admin.visit(page, "/admin/complaints/board") == 200
    text = await page.inner_text("main")
    assert all(c.number in text for c in (scene.mine, scene.colleagues, scene.other_store))
    assert "2 级升级" in text and "投诉处理满意度" in text
    await shoot(page, "board-gm-phone")
    await no_sideways_scroll(page)
    assert await admin.visit(page, f"/admin/complaints/list?store={scene.team.other_store.id}") == 200
    await shoot(page, "list-gm-phone")
    await no_sideways_scroll(page)
    assert await admin.visit(page, f"/admin/complaints/{scene.other_store.id}") == 200
    await shoot(page, "detail-gm-phone")
    await no_sideways_scroll(page)


async def test_the_countdown_ticks_and_turns_red(scene: Scene, desktop: BrowserContext) -> None:
    admin = scene.admin
    page = await admin.open(desktop)
    await page.clock.install()
    await admin.log_in(page, "advisor-2")  # the colleague's complaint: 2 hours to the first response
    await admin.visit(page, "/admin/complaints/mine")
    response = page.locator("tbody tr td[data-label='首次响应'] .sla")
    assert await response.get_attribute("class") == "sla sla-warn"
    assert await response.locator(".sla-time").inner_text() == "剩 2小时00分"

    await page.clock.run_for(60_000)

    assert "sla-danger" in (await response.get_attribute("class") or "")
    assert await response.locator(".sla-time").inner_text() == "剩 1小时59分"
    resolution = page.locator("tbody tr td[data-label='解决时限'] .sla")
    assert "sla-ok" in (await resolution.get_attribute("class") or "")
