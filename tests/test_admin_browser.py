"""The admin pages in headless Chromium, at desktop and phone (390x844) sizes.

Every role logs in and sees exactly the navigation it may use; access rules, CSRF and session
expiry hold in a real browser; every page is screenshotted (screenshots/admin-*.png) to be looked at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, expect

from bot.models import Role, Store
from tests.browser import screenshot_path
from tests.conftest import Bot
from tests.test_admin_support import PASSWORD, Team, make_team

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

STORE_STAFF_NAV = ["工作台", "客户"]
ADVISOR_NAV = [*STORE_STAFF_NAV, "投诉", "预约", "工单"]
MANAGER_NAV = [*ADVISOR_NAV, "员工", "数据导入", "数据导出", "预约设置"]
EXPECTED_NAV = {
    Role.ADVISOR: ADVISOR_NAV,
    Role.RESCUE_DISPATCHER: STORE_STAFF_NAV,
    Role.INSURANCE_SPECIALIST: STORE_STAFF_NAV,
    Role.SERVICE_MANAGER: MANAGER_NAV,
    Role.AFTERSALES_MANAGER: MANAGER_NAV,
    Role.GM: MANAGER_NAV,
    Role.ADMIN: [*ADVISOR_NAV, "员工", "门店", "数据导入", "数据导出", "预约设置"],
}


@dataclass
class Admin:
    """The running app with its team, and a way to open pages in a browser context."""

    bot: Bot
    team: Team
    problems: list[str]  # script errors, CSP violations and failed styles, scripts or images

    async def open(self, context: BrowserContext) -> Page:
        page = await context.new_page()
        page.on("console", lambda message: self._console(message.type, message.text))
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("response", lambda r: self._response(r.status, r.request.resource_type, r.url))
        return page

    def _console(self, kind: str, text: str) -> None:
        # a 403/404 page is itself a failed load; subresources are checked by their responses
        if kind == "error" and not text.startswith("Failed to load resource"):
            self.problems.append(text)

    def _response(self, status: int, kind: str, url: str) -> None:
        if status >= 400 and kind != "document":
            self.problems.append(f"{status} {url}")

    async def log_in(self, page: Page, login: str, password: str = PASSWORD) -> None:
        await page.goto(f"{self.bot.url}/admin/login")
        await page.fill("#f-login", login)
        await page.fill("#f-password", password)
        await page.click("button:has-text('登录')")
        await page.wait_for_url(f"{self.bot.url}/admin/")

    async def visit(self, page: Page, path: str, shot: str | None = None) -> int:
        response = await page.goto(self.bot.url + path)
        assert response is not None
        if shot:
            await page.screenshot(path=screenshot_path(f"admin-{shot}"), full_page=True)
        return response.status


@pytest_asyncio.fixture
async def admin(bot: Bot) -> AsyncIterator[Admin]:
    helper = Admin(bot, await make_team(), [])
    yield helper
    assert not helper.problems, helper.problems


async def nav_labels(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator(".nav-links a").all_inner_texts()]


async def test_each_role_sees_the_navigation_it_may_use(admin: Admin, desktop: BrowserContext) -> None:
    for role, expected in EXPECTED_NAV.items():
        await desktop.clear_cookies()
        page = await admin.open(desktop)
        await admin.log_in(page, role.value)
        assert await nav_labels(page) == expected, role
        await page.screenshot(path=screenshot_path(f"admin-dashboard-{role.value}-desktop"), full_page=True)
        for label in expected:  # every link opens a page, none answers 403
            await page.click(f".nav-links a:has-text('{label}')")
            assert await page.locator(".error-code").count() == 0, f"{role}: {label}"
            assert await page.locator(".nav-links a[aria-current=page]").inner_text() == label
        await page.close()


async def test_the_phone_menu_opens_and_closes(admin: Admin, phone: BrowserContext) -> None:
    page = await admin.open(phone)
    await admin.log_in(page, "service_manager")
    links = page.locator(".nav-links")
    assert not await links.is_visible()
    await page.screenshot(path=screenshot_path("admin-dashboard-phone"), full_page=True)

    await page.click(".nav-toggle")
    assert await links.is_visible()
    assert await nav_labels(page) == MANAGER_NAV
    assert await page.get_attribute(".nav-toggle", "aria-expanded") == "true"
    await page.screenshot(path=screenshot_path("admin-nav-open-phone"))
    await page.click(".nav-toggle")
    assert not await links.is_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"


async def test_an_advisor_cannot_open_another_stores_customer(admin: Admin, phone: BrowserContext) -> None:
    page = await admin.open(phone)
    await admin.log_in(page, "advisor")
    assert await admin.visit(page, f"/admin/customers/{admin.team.my_customer.id}") == 200
    assert (
        await admin.visit(page, f"/admin/customers/{admin.team.other_customer.id}", "not-found-phone") == 404
    )
    assert "页面不存在" in await page.inner_text("main")
    assert admin.team.other_customer.phone not in await page.content()
    assert await admin.visit(page, "/admin/stores", "forbidden-phone") == 403


async def test_a_form_without_its_csrf_token_is_refused(admin: Admin, desktop: BrowserContext) -> None:
    page = await admin.open(desktop)
    await admin.log_in(page, "admin")
    await admin.visit(page, f"/admin/stores/{admin.team.store.id}/edit")
    await page.fill("#f-name", "被篡改的门店")
    await page.evaluate("document.querySelector('main form input[name=_csrf]').remove()")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.click("button:has-text('保存')")
    assert (await posted.value).status == 403
    assert "页面已过期" in await page.inner_text("main")
    assert (await Store.get(id=admin.team.store.id)).name == admin.team.store.name


async def test_an_idle_session_expires(admin: Admin, desktop: BrowserContext) -> None:
    page = await admin.open(desktop)
    await admin.log_in(page, "insurance_specialist")
    admin.bot.clock.advance(minutes=31)
    await page.click(".nav-links a:has-text('客户')")
    await page.wait_for_url(f"{admin.bot.url}/admin/login?next=/admin/customers")
    assert "长时间未操作" in await page.inner_text("main")
    await page.screenshot(path=screenshot_path("admin-session-expired-desktop"))

    await page.fill("#f-login", "insurance_specialist")
    await page.fill("#f-password", PASSWORD)
    await page.click("button:has-text('登录')")
    await page.wait_for_url(f"{admin.bot.url}/admin/customers")  # back where they were going


async def test_screenshots_of_every_page(
    admin: Admin, desktop: BrowserContext, phone: BrowserContext
) -> None:
    for size, context in (("desktop", desktop), ("phone", phone)):
        await screenshot_every_page(admin, context, size)


async def screenshot_every_page(admin: Admin, context: BrowserContext, size: str) -> None:
    team = admin.team
    page = await admin.open(context)
    assert await admin.visit(page, "/admin/login", f"login-{size}") == 200
    await page.fill("#f-login", "admin")
    await page.fill("#f-password", "wrong-password")
    await page.click("button:has-text('登录')")
    await expect(page.get_by_text("账号或密码不正确")).to_be_visible()  # the answer page, not mid-navigation
    await page.screenshot(path=screenshot_path(f"admin-login-failed-{size}"))
    await admin.log_in(page, "admin")

    pages = {
        "dashboard": "/admin/",
        "customers": "/admin/customers",
        "customers-search": "/admin/customers?q=粤B",
        "customer": f"/admin/customers/{team.my_customer.id}",
        "staff": "/admin/staff",
        "staff-member": f"/admin/staff/{team.advisor.id}",
        "staff-edit": f"/admin/staff/{team.advisor.id}/edit",
        "staff-new": "/admin/staff/new",
        "stores": "/admin/stores",
        "store-edit": f"/admin/stores/{team.store.id}/edit",
        "store-new": "/admin/stores/new",
    }
    for name, path in pages.items():
        assert await admin.visit(page, path, f"{name}-{size}") == 200, path

    await admin.visit(page, "/admin/stores/new")
    await page.fill("#f-latitude", "north")
    await page.click("button:has-text('保存')")
    await expect(page.locator(".field.has-error").first).to_be_visible()  # the answer page
    await page.screenshot(path=screenshot_path(f"admin-store-errors-{size}"), full_page=True)
    assert await page.locator(".field.has-error").count() >= 2

    await admin.visit(page, f"/admin/staff/{team.advisor.id}")
    await page.click("button:has-text('生成绑定二维码')")
    qr = page.locator("img[alt='员工微信绑定二维码']")
    await qr.wait_for()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0"), "the QR image did not load"
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=screenshot_path(f"admin-staff-qr-{size}"), full_page=True)
