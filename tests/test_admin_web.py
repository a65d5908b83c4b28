"""The admin web app over real HTTP, on both backends: login, sessions, CSRF, roles and scopes."""

from __future__ import annotations

import asyncio

import jinja2
import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from admin.web.rendering import TEMPLATES
from bot.models import Customer, Role, Staff, Store
from bot.models.audit import CustomerViewLog
from bot.services import passwords
from tests.conftest import Bot
from tests.test_admin_support import PASSWORD, ROLE_PHONES, log_in, make_team, post_form


async def fresh_login(client: TestClient, login: str) -> None:
    """Drop the previous user's cookies and log in as `login`."""
    client.session.cookie_jar.clear()
    response = await log_in(client, login)
    assert response.status == 303, f"{login} could not log in"


async def test_login_by_username_or_phone_and_logout(bot: Bot) -> None:
    await make_team()
    answer = await log_in(bot.client, "advisor")
    assert answer.status == 303 and answer.headers["Location"] == "/admin/"
    assert "advisor-员工" in await (await bot.client.get("/admin/")).text()

    assert (await post_form(bot.client, "/admin/logout", {})).status == 303
    after = await bot.client.get("/admin/", allow_redirects=False)
    assert after.status == 303 and after.headers["Location"].startswith("/admin/login")

    assert (await log_in(bot.client, ROLE_PHONES[Role.ADVISOR])).status == 303


async def test_bad_password_and_unknown_login_get_the_same_refusal(bot: Bot) -> None:
    await make_team()
    wrong_password = await log_in(bot.client, "advisor", "not-the-password")
    unknown_login = await log_in(bot.client, "nobody", PASSWORD)
    assert wrong_password.status == unknown_login.status == 401
    assert "账号或密码不正确" in await wrong_password.text()
    assert "账号或密码不正确" in await unknown_login.text()
    assert (await bot.client.get("/admin/", allow_redirects=False)).status == 303


async def test_deactivated_staff_cannot_log_in(bot: Bot) -> None:
    team = await make_team()
    await Staff.filter(id=team.advisor.id).update(active=False)
    assert (await log_in(bot.client, "advisor")).status == 401


async def test_pages_need_a_login_and_it_leads_back_to_them(bot: Bot) -> None:
    team = await make_team()
    page = f"/admin/customers/{team.my_customer.id}"
    answer = await bot.client.get(page, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"] == f"/admin/login?next={page}"

    login_page = await bot.client.get(answer.headers["Location"])
    token = (await login_page.text()).split('name="_csrf" value="')[1].split('"')[0]
    data = {"_csrf": token, "login": "advisor", "password": PASSWORD, "next": page}
    assert (await bot.client.post("/admin/login", data=data, allow_redirects=False)).headers[
        "Location"
    ] == page


async def test_login_never_redirects_to_another_site(bot: Bot) -> None:
    await make_team()
    for target in ("https://evil.example/", "//evil.example/admin/", "/admin/\\evil"):
        page = await bot.client.get("/admin/login", params={"next": target})
        token = (await page.text()).split('name="_csrf" value="')[1].split('"')[0]
        data = {"_csrf": token, "login": "advisor", "password": PASSWORD, "next": target}
        answer = await bot.client.post("/admin/login", data=data, allow_redirects=False)
        assert answer.headers["Location"] == "/admin/"


async def test_pages_not_for_a_role_answer_403(bot: Bot) -> None:
    team = await make_team()
    member = f"/admin/staff/{team.advisor.id}"
    expected = {
        Role.ADVISOR: {
            "/admin/stores": 403,
            "/admin/staff": 403,
            "/admin/staff/new": 403,
            "/admin/customers": 200,
        },
        Role.RESCUE_DISPATCHER: {"/admin/staff": 403, "/admin/stores/new": 403},
        Role.INSURANCE_SPECIALIST: {"/admin/staff": 403, "/admin/stores": 403},
        Role.SERVICE_MANAGER: {
            "/admin/stores": 403,
            "/admin/staff/new": 403,
            f"{member}/edit": 403,
            member: 200,
        },
        Role.AFTERSALES_MANAGER: {"/admin/stores": 403, "/admin/staff": 200},
        Role.GM: {"/admin/stores": 403, f"{member}/edit": 403, "/admin/staff": 200},
        Role.ADMIN: {"/admin/stores": 200, "/admin/staff/new": 200, f"{member}/edit": 200},
    }
    for role, pages in expected.items():
        await fresh_login(bot.client, role.value)
        for path, status in pages.items():
            answer = await bot.client.get(path, allow_redirects=False)
            assert answer.status == status, f"{role} GET {path}: {answer.status}"
            if status == 403:
                assert "没有权限" in await answer.text()


async def test_a_post_not_for_the_role_answers_403_and_changes_nothing(bot: Bot) -> None:
    team = await make_team()
    await fresh_login(bot.client, "advisor")
    store_form = {"name": "改名", "code": "SZ01", "rescue_radius_km": "1"}
    assert (await post_form(bot.client, f"/admin/stores/{team.store.id}/edit", store_form)).status == 403
    answer = await post_form(bot.client, f"/admin/customers/{team.my_customer.id}/advisor", {"advisor": ""})
    assert answer.status == 403
    assert (await Store.get(id=team.store.id)).name == team.store.name
    assert (await Customer.get(id=team.my_customer.id)).advisor_id == team.advisor.id  # type: ignore[attr-defined]


async def test_customers_outside_the_scope_answer_404(bot: Bot) -> None:
    team = await make_team()
    mine, colleagues, other_store = (
        f"/admin/customers/{c.id}" for c in (team.my_customer, team.colleague_customer, team.other_customer)
    )
    expected = {
        "advisor": {mine: 200, colleagues: 404, other_store: 404},
        "service_manager": {mine: 200, colleagues: 200, other_store: 404},
        "rescue_dispatcher": {mine: 200, other_store: 404},
        "gm": {mine: 200, other_store: 200},
    }
    for login, pages in expected.items():
        await fresh_login(bot.client, login)
        for path, status in pages.items():
            assert (await bot.client.get(path)).status == status, f"{login} GET {path}"

    await fresh_login(bot.client, "advisor")
    listing = await (await bot.client.get("/admin/customers")).text()
    assert team.my_customer.name in listing
    assert team.colleague_customer.name not in listing and team.other_customer.name not in listing


async def test_every_customer_view_is_audited(bot: Bot) -> None:
    team = await make_team()
    await fresh_login(bot.client, "service_manager")
    await bot.client.get(f"/admin/customers/{team.my_customer.id}")
    bot.clock.advance(minutes=5)
    await bot.client.get(f"/admin/customers/{team.my_customer.id}")
    await bot.client.get(f"/admin/customers/{team.other_customer.id}")  # 404: not a view

    views = await CustomerViewLog.all().order_by("at")
    assert [(v.staff_id, v.customer_id) for v in views] == [  # type: ignore[attr-defined]
        (team.staff[Role.SERVICE_MANAGER].id, team.my_customer.id)
    ] * 2
    assert views[1].at == bot.clock.now()


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(bot: Bot) -> None:
    team = await make_team()
    await fresh_login(bot.client, "admin")
    path = f"/admin/stores/{team.store.id}/edit"
    form = {"name": "伪造的名称", "code": "SZ01", "rescue_radius_km": "5"}

    missing = await bot.client.post(path, data=form, allow_redirects=False)
    wrong = await bot.client.post(path, data={**form, "_csrf": "forged"}, allow_redirects=False)
    assert missing.status == wrong.status == 403
    assert "页面已过期" in await missing.text()
    assert (await Store.get(id=team.store.id)).name == team.store.name

    assert (await post_form(bot.client, path, form)).status == 303
    assert (await Store.get(id=team.store.id)).name == "伪造的名称"


async def test_login_form_needs_its_csrf_token_too(bot: Bot) -> None:
    await make_team()
    answer = await bot.client.post(
        "/admin/login", data={"login": "admin", "password": PASSWORD}, allow_redirects=False
    )
    assert answer.status == 403
    assert (await bot.client.get("/admin/", allow_redirects=False)).status == 303


async def test_five_failures_lock_a_login_for_15_minutes(bot: Bot) -> None:
    await make_team()
    for _ in range(5):
        assert (await log_in(bot.client, "advisor", "guess")).status == 401
    locked = await log_in(bot.client, "advisor")  # even the right password
    assert locked.status == 429 and "次数过多" in await locked.text()
    assert (await log_in(bot.client, "gm")).status == 303  # other logins are unaffected

    bot.clock.advance(minutes=15, seconds=1)
    assert (await log_in(bot.client, "advisor")).status == 303


async def test_many_failures_from_one_address_lock_it_for_every_login(bot: Bot) -> None:
    await make_team()
    for attempt in range(20):
        assert (await log_in(bot.client, f"guess-{attempt}", "guess")).status == 401
    assert (await log_in(bot.client, "advisor")).status == 429


async def test_a_session_expires_after_30_idle_minutes(bot: Bot) -> None:
    await make_team()
    await log_in(bot.client, "advisor")
    for _ in range(3):  # activity keeps the session alive
        bot.clock.advance(minutes=29)
        assert (await bot.client.get("/admin/", allow_redirects=False)).status == 200

    bot.clock.advance(minutes=30, seconds=1)
    expired = await bot.client.get("/admin/customers", allow_redirects=False)
    assert expired.status == 303 and expired.headers["Location"].startswith("/admin/login")
    assert "长时间未操作" in await (await bot.client.get(expired.headers["Location"])).text()
    assert (await bot.client.get("/admin/", allow_redirects=False)).status == 303


async def test_admin_pages_carry_security_headers(bot: Bot) -> None:
    await make_team()
    await log_in(bot.client, "advisor")
    for path in ("/admin/login", "/admin/", "/admin/stores", "/admin/static/admin.css"):
        headers = (await bot.client.get(path)).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" not in (await bot.client.get("/healthz")).headers


async def test_customer_search_by_name_phone_or_plate(bot: Bot) -> None:
    team = await make_team()
    await fresh_login(bot.client, "gm")
    for query in ("钱女士", "0000 0002", "粤b22222", "22222"):
        page = await (await bot.client.get("/admin/customers", params={"q": query})).text()
        assert team.colleague_customer.name in page, query
        assert team.my_customer.name not in page and team.other_customer.name not in page, query


class LoopWatchingHasher:
    """Stands in for the argon2 hasher and notes every hash or verify run on an event loop's
    thread (where its tens of milliseconds would stall every other request)."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self.calls = 0
        self.on_loop: list[str] = []

    def _note(self, what: str) -> None:
        self.calls += 1
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a worker thread
        self.on_loop.append(what)

    def hash(self, password: str) -> str:
        self._note("hash")
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self._note("verify")
        return self._hasher.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


async def test_passwords_are_hashed_and_verified_off_the_event_loop(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = await make_team()
    hasher = LoopWatchingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)

    await fresh_login(bot.client, "admin")
    created = await post_form(
        bot.client,
        "/admin/staff/new",
        {
            "name": "吴顾问",
            "phone": "13900000999",
            "role": "advisor",
            "store": str(team.store.id),
            "password": PASSWORD,
            "active": "on",
        },
    )
    reset = await post_form(
        bot.client, f"/admin/staff/{team.advisor.id}/password", {"password": "a-new-password-1"}
    )
    assert created.status == reset.status == 303
    await fresh_login(bot.client, "13900000999")
    assert (await log_in(bot.client, "advisor", "a-new-password-1")).status == 303
    assert (await log_in(bot.client, "nobody", PASSWORD)).status == 401

    assert hasher.calls >= 6 and hasher.on_loop == []


async def test_extra_input_attributes_reach_the_pages_intact(bot: Bot) -> None:
    await make_team()
    login_page = await (await bot.client.get("/admin/login")).text()
    await fresh_login(bot.client, "admin")
    staff_form = await (await bot.client.get("/admin/staff/new")).text()
    store_form = await (await bot.client.get("/admin/stores/new")).text()

    for page in (login_page, staff_form):
        assert ' autocapitalize="off" spellcheck="false"' in page
    assert store_form.count(' inputmode="decimal"') == 3
    assert "&#34;" not in login_page + staff_form + store_form


def test_the_field_macro_escapes_attribute_values_and_refuses_bad_names() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    field = env.get_template("macros.html").module.field  # type: ignore[attr-defined]

    html = str(field("q", "查询", {}, {}, attrs={"placeholder": '"><script>alert(1)</script>'}))

    assert 'placeholder="&#34;&gt;&lt;script&gt;' in html and "<script>" not in html
    with pytest.raises(ValueError):
        field("q", "查询", {}, {}, attrs={'onfocus="alert(1)" x': "y"})
