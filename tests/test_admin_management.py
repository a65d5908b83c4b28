"""Managing stores, staff and advisors from the admin pages: good input saves, bad input changes nothing."""

from __future__ import annotations

from bot.models import Customer, Role, Staff, Store
from tests import factories
from tests.conftest import Bot
from tests.test_admin_support import PASSWORD, ROLE_PHONES, log_in, make_team, post_form

STORE_FORM = {
    "name": "东莞南城4S店",
    "code": "DG01",
    "address": "东莞市南城区宏图路",
    "latitude": "23.0205",
    "longitude": "113.7518",
    "phone": "0769-22334455",
    "hours": "08:30-18:00",
    "rescue_radius_km": "25",
}


async def test_admin_creates_and_edits_a_store(bot: Bot) -> None:
    await make_team()
    await log_in(bot.client, "admin")
    created = await post_form(bot.client, "/admin/stores/new", STORE_FORM)
    assert created.status == 303
    store = await Store.get(code="DG01")
    assert (store.latitude, store.longitude, store.rescue_radius_km) == (23.0205, 113.7518, 25.0)
    assert "已创建门店" in await (await bot.client.get("/admin/stores")).text()

    edited = await post_form(
        bot.client, f"/admin/stores/{store.id}/edit", {**STORE_FORM, "rescue_radius_km": "40"}
    )
    assert edited.status == 303
    assert (await Store.get(id=store.id)).rescue_radius_km == 40.0


async def test_bad_store_input_is_explained_and_saves_nothing(bot: Bot) -> None:
    await make_team()
    await log_in(bot.client, "admin")
    cases = {
        "请填写门店名称": {"name": ""},
        "门店编码格式不正确": {"code": "深圳 01"},
        "纬度应在 -90 到 90 之间": {"latitude": "123"},
        "经纬度需同时填写": {"longitude": ""},
        "免费救援半径应为数字": {"rescue_radius_km": "三十"},
        "该门店编码已存在": {"code": "SZ01"},
    }
    for message, change in cases.items():
        answer = await post_form(bot.client, "/admin/stores/new", {**STORE_FORM, **change})
        page = await answer.text()
        assert answer.status == 422 and message in page, message
        assert STORE_FORM["address"] in page  # what was typed is kept
    assert await Store.all().count() == 2


async def test_admin_creates_staff_who_can_then_log_in(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "admin")
    form = {
        "name": "吴顾问",
        "phone": "139 0000 0999",
        "username": "wu",
        "role": "advisor",
        "store": str(team.store.id),
        "on_duty": "on",
        "active": "on",
        "password": "new-staff-pw",
    }
    answer = await post_form(bot.client, "/admin/staff/new", form)
    assert answer.status == 303
    member = await Staff.get(username="wu")
    assert (member.phone, member.role, member.store_id) == ("13900000999", Role.ADVISOR, team.store.id)  # type: ignore[attr-defined]

    bot.client.session.cookie_jar.clear()
    assert (await log_in(bot.client, "wu", "new-staff-pw")).status == 303


async def test_bad_staff_input_is_explained_and_saves_nothing(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "admin")
    good = {"name": "吴顾问", "phone": "13900000999", "role": "advisor", "store": str(team.store.id)}
    cases = {
        "服务顾问需要选择所属门店": {"store": ""},
        "请填写正确的11位手机号": {"phone": "12345"},
        "手机号或用户名已被其他员工使用": {"phone": ROLE_PHONES[Role.GM]},
        "密码至少 8 位": {"password": "short"},
        "角色无效": {"role": "superuser"},
    }
    before = await Staff.all().count()
    for message, change in cases.items():
        answer = await post_form(
            bot.client, "/admin/staff/new", {"password": "long-enough", **good, **change}
        )
        assert answer.status == 422 and message in await answer.text(), message
    assert await Staff.all().count() == before


async def test_admin_edits_staff_but_cannot_lock_themselves_out(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "admin")
    advisor_form = {"name": "改名顾问", "phone": ROLE_PHONES[Role.ADVISOR], "role": "service_manager",
                    "store": str(team.store.id), "active": "on"}  # fmt: skip
    assert (await post_form(bot.client, f"/admin/staff/{team.advisor.id}/edit", advisor_form)).status == 303
    edited = await Staff.get(id=team.advisor.id)
    assert (edited.name, edited.role, edited.on_duty) == ("改名顾问", Role.SERVICE_MANAGER, False)

    me = team.staff[Role.ADMIN]
    demote = {"name": me.name, "phone": me.phone, "role": "gm", "active": "on"}
    answer = await post_form(bot.client, f"/admin/staff/{me.id}/edit", demote)
    assert answer.status == 422 and "不能取消自己的管理员角色" in await answer.text()
    assert (await Staff.get(id=me.id)).role == Role.ADMIN


async def test_admin_resets_a_password(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "admin")
    page = f"/admin/staff/{team.advisor.id}"
    await post_form(bot.client, f"{page}/password", {"password": "short"}, token_from=page)
    assert "密码未修改" in await (await bot.client.get(page)).text()
    await post_form(bot.client, f"{page}/password", {"password": "brand-new-pw"}, token_from=page)

    bot.client.session.cookie_jar.clear()
    assert (await log_in(bot.client, "advisor", PASSWORD)).status == 401
    assert (await log_in(bot.client, "advisor", "brand-new-pw")).status == 303


async def test_managers_switch_duty_for_their_own_store_only(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "aftersales_manager")
    listing = await (await bot.client.get("/admin/staff")).text()
    assert team.advisor.name in listing and team.other_advisor.name not in listing

    off = await post_form(bot.client, f"/admin/staff/{team.advisor.id}/duty", {"next": "/admin/staff?page=1"})
    assert off.status == 303 and off.headers["Location"] == "/admin/staff?page=1"
    assert not (await Staff.get(id=team.advisor.id)).on_duty
    on = await post_form(
        bot.client, f"/admin/staff/{team.advisor.id}/duty", {"on_duty": "on", "next": "https://x"}
    )
    assert on.headers["Location"] == f"/admin/staff/{team.advisor.id}"
    assert (await Staff.get(id=team.advisor.id)).on_duty

    other = await post_form(bot.client, f"/admin/staff/{team.other_advisor.id}/duty", {})
    assert other.status == 404 and (await Staff.get(id=team.other_advisor.id)).on_duty


async def test_advisors_cannot_switch_duty(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "advisor")
    assert (await post_form(bot.client, f"/admin/staff/{team.colleague.id}/duty", {})).status == 403
    assert (await Staff.get(id=team.colleague.id)).on_duty


async def test_a_manager_assigns_an_advisor_of_the_customers_store(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "service_manager")
    page = f"/admin/customers/{team.my_customer.id}"
    html = await (await bot.client.get(page)).text()
    assert team.colleague.name in html and team.other_advisor.name not in html  # the choices offered

    moved = await post_form(
        bot.client, f"{page}/advisor", {"advisor": str(team.colleague.id)}, token_from=page
    )
    assert moved.status == 303
    assert (await Customer.get(id=team.my_customer.id)).advisor_id == team.colleague.id  # type: ignore[attr-defined]

    await post_form(bot.client, f"{page}/advisor", {"advisor": str(team.other_advisor.id)}, token_from=page)
    assert "顾问无效" in await (await bot.client.get(page)).text()
    assert (await Customer.get(id=team.my_customer.id)).advisor_id == team.colleague.id  # type: ignore[attr-defined]

    other_store = f"/admin/customers/{team.other_customer.id}/advisor"
    assert (await post_form(bot.client, other_store, {"advisor": str(team.colleague.id)})).status == 404


async def test_lists_are_paginated(bot: Bot) -> None:
    team = await make_team()
    for number in range(25):
        await factories.customer_with_car(
            team.store, phone=f"1370000{number:04d}", plate=f"粤C{number:05d}", name=f"客户{number:02d}"
        )
    await log_in(bot.client, "gm")
    first = await (await bot.client.get("/admin/customers")).text()
    assert "第 1 / 2 页" in first and "共 28 条" in first and 'href="/admin/customers?page=2"' in first
    second = await (await bot.client.get("/admin/customers", params={"page": "2"})).text()
    assert "第 2 / 2 页" in second and second.count('data-label="姓名"') == 8
    beyond = await (await bot.client.get("/admin/customers", params={"page": "99"})).text()
    assert "第 2 / 2 页" in beyond
