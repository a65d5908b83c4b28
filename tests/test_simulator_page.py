"""The chat simulator page in headless Chromium, against the demo stack on free ports.

The page signs and posts real WeChat XML to /wechat; these tests bind a demo customer through
the menu and the text box, ask for the advisor, send a location, and see a pushed message.
"""

from __future__ import annotations

import hashlib

import pytest
from playwright.async_api import BrowserContext, Page, expect

from bot.app import CLOCK
from bot.demo import data
from bot.demo.runner import DemoStack
from bot.models import MessageCategory
from bot.services.outbox import enqueue
from tests import test_demo
from tests.browser import screenshot_path

pytestmark = pytest.mark.browser
demo_database, stack = test_demo.demo_database, test_demo.stack  # the demo stack fixtures, shared


async def _open(context: BrowserContext, stack: DemoStack) -> tuple[Page, list[str]]:
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    await page.goto(stack.simulator_url)
    return page, problems


async def _menu(page: Page, top: str, entry: str) -> None:
    await page.get_by_role("button", name=top).click()
    await page.get_by_role("menuitem", name=entry).click()


async def _type(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="消息")
    await box.fill(text)
    await box.press("Enter")


def _bot_says(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator(".row.bot .bubble").filter(has_text=text)


async def test_customer_binds_sees_advisor_and_gets_pushes_on_a_phone(
    phone: BrowserContext, stack: DemoStack
) -> None:
    zhang = data.CUSTOMERS[0]
    page, problems = await _open(phone, stack)

    await page.get_by_role("button", name=zhang.name).click()
    await _menu(page, "我的", "绑定车辆")
    await expect(_bot_says(page, "手机号")).to_be_visible()
    await page.get_by_role("button", name="切换到键盘").click()
    await _type(page, zhang.phone)
    await expect(_bot_says(page, "车牌号")).to_be_visible()
    await _type(page, zhang.vehicles[0].plate)
    await expect(_bot_says(page, "绑定成功")).to_be_visible()
    await page.screenshot(path=screenshot_path("simulator-phone-bound"))

    await page.get_by_role("button", name="切换到菜单").click()
    await _menu(page, "我的", "我的顾问")
    latest = page.locator(".row.bot .bubble").last
    await expect(latest).to_contain_text("电话：13900000001")  # the advisor card, not the bind reply
    await expect(latest).to_contain_text("您的服务顾问：李明")

    await enqueue(
        openid=zhang.openid,
        text="张伟您好，您的爱车已完成保养，可以取车了。",
        category=MessageCategory.SERVICE,
        dedup_key="simulator-page-test",
        now=stack.app[CLOCK].now(),
    )
    await expect(_bot_says(page, "您的爱车已完成保养")).to_be_visible(timeout=5000)
    await page.screenshot(path=screenshot_path("simulator-phone-pushed"))
    assert problems == []


async def test_location_and_awkward_text_go_out_as_valid_signed_xml(
    phone: BrowserContext, stack: DemoStack
) -> None:
    page, problems = await _open(phone, stack)
    await page.get_by_role("button", name=data.CUSTOMERS[1].name).click()
    await page.get_by_role("button", name="切换到键盘").click()

    awkward = "a]]>b <script>x</script> & 你好"
    await _type(page, awkward)
    await expect(page.locator(".row.me .bubble").filter(has_text=awkward)).to_have_count(1)
    await expect(page.locator(".row.bot .bubble")).to_have_count(1)  # the bot understood and replied

    await page.get_by_role("button", name="更多功能").click()
    await page.get_by_role("button", name="位置").click()
    await page.get_by_role("button", name="广深高速 福永段").click()
    await expect(page.locator(".row.me .location")).to_contain_text("广深高速福永立交")
    await expect(page.locator(".row.bot .bubble")).to_have_count(2)
    await page.screenshot(path=screenshot_path("simulator-phone-location"))
    assert problems == [] and await page.locator(".note.error").count() == 0


async def test_sha1_fallback_matches_for_pages_without_crypto_subtle(
    phone: BrowserContext, stack: DemoStack
) -> None:
    page, _ = await _open(phone, stack)
    text = "1700000000demo-token你好nonce" * 5
    computed = await page.evaluate("(t) => window.simulator.sha1Fallback(new TextEncoder().encode(t))", text)
    assert computed == hashlib.sha1(text.encode()).hexdigest()


async def test_new_follower_via_advisor_qr_and_desktop_layout(
    desktop: BrowserContext, stack: DemoStack
) -> None:
    page, problems = await _open(desktop, stack)
    await page.get_by_role("button", name="新关注者（扫 陈静 的二维码）").click()
    await expect(_bot_says(page, "欢迎关注")).to_contain_text("陈静")

    await page.get_by_role("button", name="预约维修").click()
    await expect(page.get_by_role("menuitem", name="维修进度")).to_be_visible()
    await page.screenshot(path=screenshot_path("simulator-desktop"))
    await page.get_by_role("menuitem", name="维修进度").click()
    await expect(page.locator(".row.bot .bubble")).to_have_count(2)
    assert problems == []


async def test_service_notice_outside_the_chat_window_shows_as_a_template_card(
    phone: BrowserContext, stack: DemoStack
) -> None:
    zhao = data.CUSTOMERS[4]
    page, problems = await _open(phone, stack)
    await expect(page.get_by_role("dialog")).to_contain_text("选择要扮演的客户")
    await page.screenshot(path=screenshot_path("simulator-phone-pick"))
    await page.get_by_role("button", name=zhao.name).click()

    await enqueue(  # Zhao has not written: no customer-service window, so a template message
        openid=zhao.openid,
        text="您的车辆维修进度更新：质检中",
        category=MessageCategory.SERVICE,
        dedup_key="simulator-page-card",
        now=stack.app[CLOCK].now(),
        template_name="repair_progress",
        template_data={
            "first": "维修进度更新",
            "keyword1": "粤BA3F59",
            "keyword2": "质检中",
            "remark": "预计17:30交车",
        },
    )
    card = page.locator(".row.bot .card")
    await expect(card).to_contain_text("维修进度更新")
    await expect(card).to_contain_text("质检中")
    await expect(card).to_contain_text("预计17:30交车")
    await page.screenshot(path=screenshot_path("simulator-phone-card"))
    assert problems == []
