"""Data import and export pages over real HTTP, on both backends; login hardening that came with
them (over-long logins, trusted proxies, sessions ended by a password change, idle minutes).

Uploads are posted as a browser posts them: multipart, the CSRF token as the first field.
"""

from __future__ import annotations

import csv
import io
import logging
from ipaddress import ip_network
from pathlib import Path
from uuid import uuid4

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from playwright.async_api import BrowserContext
from pytest_aiohttp import AiohttpClient

from admin.auth import client_address
from bot.models import Customer, Role, Staff, Vehicle
from bot.settings import Settings, SettingsError
from tests.browser import screenshot_path
from tests.conftest import Bot, MakeBot
from tests.data.dms_files import VEHICLE_HEADERS, csv_bytes, vehicle_row, write_xlsx
from tests.test_admin_browser import Admin
from tests.test_admin_support import (
    PASSWORD,
    Team,
    csrf_in,
    log_in,
    make_team,
    password_hash,
    post_form,
    staff_form,
)

UPLOAD = "/admin/imports"
NO_TOKEN = object()


async def logged_in(client: TestClient, login: str) -> None:
    client.session.cookie_jar.clear()
    assert (await log_in(client, login)).status == 303, f"{login} could not log in"


def vehicles_xlsx(tmp_path: Path, count: int = 3, *, bad_plate_row: int | None = 3) -> bytes:
    """Vehicles 101.. of store SZ01 (make_team's store A); spreadsheet row `bad_plate_row` has a
    plate that is not one."""
    rows = [vehicle_row(100 + index) for index in range(1, count + 1)]
    if bad_plate_row is not None:
        rows[bad_plate_row - 2][2] = "粤B1234"
    return write_xlsx(tmp_path / "车辆.xlsx", VEHICLE_HEADERS, rows).read_bytes()


async def upload(
    client: TestClient,
    data: bytes,
    *,
    kind: str = "vehicles",
    filename: str = "车辆.xlsx",
    dry_run: bool = False,
    token: object = None,
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    """Post the upload form; the CSRF token is taken from the form page unless `token` is given
    (NO_TOKEN: none at all)."""
    if token is None:
        token = csrf_in(await (await client.get(UPLOAD)).text())
    form = FormData()
    if token is not NO_TOKEN:
        form.add_field("_csrf", str(token))
    form.add_field("kind", kind)
    if dry_run:
        form.add_field("dry_run", "on")
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await client.post(UPLOAD, data=form, headers=headers or {})


# --- import ------------------------------------------------------------------------------------


async def test_an_xlsx_upload_stores_the_good_rows_and_shows_the_bad_one(bot: Bot, tmp_path: Path) -> None:
    await make_team()
    await logged_in(bot.client, "admin")

    answer = await upload(bot.client, vehicles_xlsx(tmp_path))

    assert answer.status == 200 and "/admin/imports/reports/" in str(answer.url)
    page = await answer.text()
    assert "导入结果：车辆" in page and "2 行已导入，1 行有问题未导入" in page
    assert "第 3 行" in page and "不是有效的车牌号" in page
    assert set(await Vehicle.filter(plate__startswith="粤B001").values_list("plate", flat=True)) == {
        "粤B00101",
        "粤B00103",
    }
    again = await bot.client.get(answer.url.path)  # the report page can be reloaded: nothing re-imported
    assert again.status == 200 and await Vehicle.filter(plate__startswith="粤B001").count() == 2


async def test_the_error_report_downloads_as_csv_for_its_uploader_only(bot: Bot, tmp_path: Path) -> None:
    await make_team()
    await Staff.create(
        name="另一位管理员",
        phone="13900000999",
        role=Role.ADMIN,
        username="admin-2",
        password_hash=password_hash(),
    )
    await logged_in(bot.client, "admin")
    report = (await upload(bot.client, vehicles_xlsx(tmp_path))).url

    download = await bot.client.get(f"{report.path}/errors.csv")
    assert download.status == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await download.read()).decode("utf-8-sig"))))
    assert rows == [["行号", "列", "原因"], ["3", "车牌", "不是有效的车牌号"]]

    await logged_in(bot.client, "admin-2")
    assert (await bot.client.get(report.path)).status == 404
    assert (await bot.client.get(f"{report.path}/errors.csv")).status == 404


async def test_a_dry_run_reports_what_would_happen_and_stores_nothing(bot: Bot, tmp_path: Path) -> None:
    await make_team()
    await logged_in(bot.client, "admin")
    vehicles, customers = await Vehicle.all().count(), await Customer.all().count()

    answer = await upload(bot.client, vehicles_xlsx(tmp_path), dry_run=True)

    page = await answer.text()
    assert answer.status == 200 and "预检结果：车辆" in page and "没有写入任何数据" in page
    assert "将新增" in page and "第 3 行" in page
    assert (await Vehicle.all().count(), await Customer.all().count()) == (vehicles, customers)


async def test_an_upload_without_the_right_csrf_token_is_refused_and_stores_nothing(
    bot: Bot, tmp_path: Path
) -> None:
    await make_team()
    await logged_in(bot.client, "admin")
    data = vehicles_xlsx(tmp_path)
    token = csrf_in(await (await bot.client.get(UPLOAD)).text())

    missing = await upload(bot.client, data, token=NO_TOKEN)
    wrong = await upload(bot.client, data, token="forged")
    not_first = FormData()
    not_first.add_field("kind", "vehicles")
    not_first.add_field("_csrf", token)  # a token later in the form is not looked for
    not_first.add_field("file", data, filename="车辆.xlsx")
    late = await bot.client.post(UPLOAD, data=not_first)

    assert missing.status == wrong.status == late.status == 403
    assert "页面已过期" in await missing.text()
    assert not await Vehicle.filter(plate__startswith="粤B001").exists()

    by_header = await upload(bot.client, data, token=NO_TOKEN, headers={"X-CSRF-Token": token})
    assert by_header.status == 200 and await Vehicle.filter(plate__startswith="粤B001").count() == 2


async def test_only_managers_gm_and_admins_may_import(bot: Bot, tmp_path: Path) -> None:
    await make_team()
    for login in ("advisor", "rescue_dispatcher", "insurance_specialist"):
        await logged_in(bot.client, login)
        assert (await bot.client.get(UPLOAD)).status == 403, login
        token = csrf_in(await (await bot.client.get("/admin/")).text())
        assert (await upload(bot.client, vehicles_xlsx(tmp_path), token=token)).status == 403, login
    assert not await Vehicle.filter(plate__startswith="粤B001").exists()
    for login in ("service_manager", "aftersales_manager", "gm"):
        await logged_in(bot.client, login)
        assert (await bot.client.get(UPLOAD)).status == 200, login


async def test_a_manager_imports_their_stores_rows_and_gets_the_others_as_errors(
    bot: Bot, tmp_path: Path
) -> None:
    team = await make_team()
    rows = [vehicle_row(201), vehicle_row(202, store="GZ01"), vehicle_row(203, store=""), vehicle_row(204)]
    rows[3][1], rows[3][2] = team.other_customer.phone, "粤B00299"  # the other store's customer
    data = csv_bytes(VEHICLE_HEADERS, rows, "utf-8")
    await logged_in(bot.client, "aftersales_manager")

    form = await (await bot.client.get(UPLOAD)).text()
    answer = await upload(bot.client, data, filename="vehicles.csv")

    assert "只能导入本门店（深圳福田4S店）的数据" in form
    page = await answer.text()
    assert answer.status == 200 and "2 行已导入，2 行有问题未导入" in page
    assert "只能导入本门店的数据" in page and "该客户不属于本门店" in page
    stored = await Vehicle.filter(plate__startswith="粤B002").values_list("plate", "store_id")
    assert sorted(stored) == [("粤B00201", team.store.id), ("粤B00203", team.store.id)]
    assert await Customer.filter(phone="13800000203", store_id=team.store.id).exists()
    other = await Customer.get(id=team.other_customer.id)
    assert (other.name, other.store_id) == (team.other_customer.name, team.other_store.id)  # type: ignore[attr-defined]

    await logged_in(bot.client, "gm")
    again = await upload(bot.client, data, filename="vehicles.csv")
    assert "全部 4 行已导入" in await again.text()
    assert await Vehicle.filter(plate="粤B00202", store_id=team.other_store.id).exists()


async def test_a_file_that_cannot_be_imported_is_explained_on_the_form(bot: Bot) -> None:
    await make_team()
    await logged_in(bot.client, "admin")

    old_excel = await upload(bot.client, b"\xd0\xcf\x11\xe0 not really", filename="客户.xls")
    no_phone = await upload(bot.client, "姓名\n张三\n".encode(), kind="customers", filename="客户.csv")
    no_file = await upload(bot.client, b"", filename="")
    bad_kind = await upload(bot.client, b"x", kind="invoices", filename="a.csv")

    assert old_excel.status == no_phone.status == no_file.status == bad_kind.status == 422
    assert "不支持旧版 .xls 文件" in await old_excel.text()
    assert "缺少必需的列：手机" in await no_phone.text()
    assert "请选择要导入的" in await no_file.text()
    assert "请选择导入的数据类型" in await bad_kind.text()


async def test_an_upload_larger_than_a_form_body_is_streamed_up_to_its_own_limit(
    make_bot: MakeBot,
) -> None:
    bot = await make_bot(max_upload_bytes=400 * 1024)
    await make_team()
    await logged_in(bot.client, "admin")
    rows = [vehicle_row(1000 + index) for index in range(2500)]
    big = csv_bytes(VEHICLE_HEADERS, rows, "utf-8")
    assert 2 * bot.settings.max_body_bytes < len(big) < bot.settings.max_upload_bytes

    imported = await upload(bot.client, big, filename="vehicles.csv")
    assert imported.status == 200 and "全部 2500 行已导入" in await imported.text()

    too_big = await upload(bot.client, big + big, filename="vehicles.csv")
    assert too_big.status == 413 and "文件超过" in await too_big.text()
    assert await Vehicle.all().count() == 3 + 2500  # make_team's three and the first file's


# --- export ------------------------------------------------------------------------------------


async def download_rows(client: TestClient, path: str) -> list[list[str]]:
    answer = await client.get(path)
    assert answer.status == 200, path
    assert (
        answer.headers["Content-Type"].startswith("text/csv")
        and answer.headers["Cache-Control"] == "no-store"
    )
    return list(csv.reader(io.StringIO((await answer.read()).decode("utf-8-sig"))))


async def test_exports_hold_only_the_customers_the_staff_member_may_see(bot: Bot) -> None:
    team = await make_team()

    await logged_in(bot.client, "service_manager")
    customers = await download_rows(bot.client, "/admin/exports/customers.csv")
    vehicles = await download_rows(bot.client, "/admin/exports/vehicles.csv")
    assert customers[0][:2] == ["姓名", "手机"]
    assert sorted(row[1] for row in customers[1:]) == sorted(
        [team.my_customer.phone, team.colleague_customer.phone]
    )
    assert sorted(row[0] for row in vehicles[1:]) == ["粤B12345", "粤B22222"]
    other_store = f"/admin/exports/customers.csv?store={team.other_store.id}"
    assert (await download_rows(bot.client, other_store))[1:] == []  # a filter cannot widen the scope

    await logged_in(bot.client, "gm")
    assert len(await download_rows(bot.client, "/admin/exports/customers.csv")) == 1 + 3
    assert [row[1] for row in (await download_rows(bot.client, other_store))[1:]] == [
        team.other_customer.phone
    ]
    page = await (await bot.client.get("/admin/exports")).text()
    assert "广州天河4S店" in page and "全部门店" in page

    await logged_in(bot.client, "advisor")
    assert (await bot.client.get("/admin/exports")).status == 403
    assert (await bot.client.get("/admin/exports/customers.csv")).status == 403


# --- login hardening ---------------------------------------------------------------------------


async def test_a_login_longer_than_any_login_column_is_a_normal_failure(bot: Bot) -> None:
    """Regression: a login longer than Staff.phone's 20 characters failed validation in the
    query (500) instead of matching no one; a NUL byte was refused by PostgreSQL."""
    await make_team()
    for login in ("1" * 21, "x" * 51, "x" * 300, "admin\x00"):
        answer = await log_in(bot.client, login)
        assert answer.status == 401, repr(login)
        assert "账号或密码不正确" in await answer.text()

    for login in ("1" * 21, "x" * 50):
        token = await bot.client.post("/api/v1/auth/token", json={"login": login, "password": PASSWORD})
        assert token.status == 401, login


async def test_a_long_username_still_logs_in(bot: Bot) -> None:
    team = await make_team()
    await Staff.filter(id=team.advisor.id).update(username="a-very-long-username-of-thirty-9")
    assert (await log_in(bot.client, "a-very-long-username-of-thirty-9")).status == 303


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),  # nginx says who connected to it
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7"], "203.0.113.7"),  # the client's own claim is ignored
        ("10.0.0.2", ["1.1.1.1", "203.0.113.7, 10.0.0.3"], "203.0.113.7"),  # two trusted hops
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),  # not from a proxy: not believed
        ("10.0.0.2", ["garbage"], "10.0.0.2"),
        ("10.0.0.2", [], "10.0.0.2"),
        (None, ["203.0.113.7"], "unknown"),
    ],
)
def test_the_client_address_is_read_from_trusted_proxies_only(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, (ip_network("10.0.0.0/24"),)) == client


async def failed_login(client: TestClient, forwarded_for: str) -> int:
    """A failed login with a new login name each time, so only the per-client limit can bite."""
    page = await client.get("/admin/login")
    data = {"_csrf": csrf_in(await page.text()), "login": f"nobody-{uuid4().hex[:8]}", "password": "guess"}
    headers = {"X-Forwarded-For": forwarded_for}
    answer = await client.post("/admin/login", data=data, headers=headers, allow_redirects=False)
    return answer.status


@pytest.fixture
def client_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """A per-client limit of 3 failed logins: which address is counted matters here, not how many
    failures it takes (each costs an argon2 verification)."""
    monkeypatch.setattr("admin.auth.MAX_FAILURES_PER_CLIENT", 3)
    return 3


async def test_behind_a_trusted_proxy_failed_logins_count_per_real_client(
    make_bot: MakeBot, caplog: pytest.LogCaptureFixture, client_limit: int
) -> None:
    bot = await make_bot(trusted_proxies=(ip_network("127.0.0.1/32"),))
    await make_team()
    caplog.set_level(logging.INFO, logger="admin.auth")
    for _ in range(client_limit):
        assert await failed_login(bot.client, "203.0.113.7") == 401
    assert await failed_login(bot.client, "203.0.113.7") == 429
    assert await failed_login(bot.client, "203.0.113.8") == 401  # another office behind the proxy
    api = await bot.client.post(
        "/api/v1/auth/token",
        json={"login": "nobody", "password": "guess"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert api.status == 401
    clients = {getattr(record, "client", None) for record in caplog.records if record.msg == "login failed"}
    assert clients == {"203.0.113.7", "203.0.113.8", "203.0.113.9"}


async def test_an_untrusted_peer_cannot_dodge_the_throttle_with_x_forwarded_for(
    bot: Bot, client_limit: int
) -> None:
    await make_team()
    for attempt in range(client_limit):
        assert await failed_login(bot.client, f"203.0.113.{attempt}") == 401
    assert await failed_login(bot.client, "198.51.100.1") == 429


# --- sessions ----------------------------------------------------------------------------------


async def test_a_password_reset_or_deactivation_ends_the_staff_members_sessions(
    bot: Bot, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    team, advisor, admin = await _advisor_and_admin_logged_in(bot, aiohttp_client)

    reset = await post_form(
        admin, f"/admin/staff/{team.advisor.id}/password", {"password": "a-new-password-1"}
    )
    assert reset.status == 303
    ended = await advisor.get("/admin/customers", allow_redirects=False)
    assert ended.status == 303 and ended.headers["Location"].startswith("/admin/login")
    assert "密码已更改" in await (await advisor.get(ended.headers["Location"])).text()
    assert (await admin.get("/admin/", allow_redirects=False)).status == 200  # the admin's goes on

    assert (await log_in(advisor, "advisor", "a-new-password-1")).status == 303
    assert (await advisor.get("/admin/", allow_redirects=False)).status == 200
    await Staff.filter(id=team.advisor.id).update(active=False)
    assert (await advisor.get("/admin/", allow_redirects=False)).status == 303


async def test_a_deactivated_members_sessions_stay_ended_once_they_are_reactivated(
    bot: Bot, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    team, advisor, admin = await _advisor_and_admin_logged_in(bot, aiohttp_client)
    edit, form = f"/admin/staff/{team.advisor.id}/edit", staff_form(team.advisor)

    assert (await post_form(admin, edit, form)).status == 303  # deactivated
    assert (await post_form(admin, edit, form | {"active": "on"})).status == 303  # and back

    ended = await advisor.get("/admin/", allow_redirects=False)
    assert ended.status == 303 and ended.headers["Location"].startswith("/admin/login")
    assert (await log_in(advisor, "advisor")).status == 303  # a fresh login works again
    assert (await advisor.get("/admin/", allow_redirects=False)).status == 200


async def _advisor_and_admin_logged_in(
    bot: Bot, aiohttp_client: AiohttpClient
) -> tuple[Team, TestClient, TestClient]:
    """A team, its advisor logged in on the bot's client and its admin in another browser."""
    team = await make_team()
    await logged_in(bot.client, "advisor")
    admin = await _second_client(bot, aiohttp_client)
    assert (await log_in(admin, "admin")).status == 303
    return team, bot.client, admin


async def _second_client(bot: Bot, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    """Another browser on the same running app (its own cookies)."""
    return await aiohttp_client(bot.client.server)


async def test_the_idle_timeout_is_a_setting(make_bot: MakeBot) -> None:
    bot = await make_bot(admin_idle_minutes=5)
    await make_team()
    await logged_in(bot.client, "advisor")
    bot.clock.advance(minutes=4)
    assert (await bot.client.get("/admin/", allow_redirects=False)).status == 200
    bot.clock.advance(minutes=5, seconds=1)
    assert (await bot.client.get("/admin/", allow_redirects=False)).status == 303


def test_new_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "BOT_TRUSTED_PROXIES": "172.16.0.0/12, 10.0.0.5,::1",
            "BOT_ADMIN_IDLE_MINUTES": "45",
            "BOT_MAX_UPLOAD_MB": "5",
        }
    )
    assert settings.trusted_proxies == (
        ip_network("172.16.0.0/12"),
        ip_network("10.0.0.5/32"),
        ip_network("::1/128"),
    )
    assert (settings.admin_idle_minutes, settings.max_upload_bytes) == (45, 5 * 1024 * 1024)
    defaults = Settings.from_env({})
    assert (defaults.trusted_proxies, defaults.admin_idle_minutes) == ((), 30)
    with pytest.raises(SettingsError, match="BOT_TRUSTED_PROXIES: 'nginx'"):
        Settings.from_env({"BOT_TRUSTED_PROXIES": "nginx"})
    with pytest.raises(SettingsError, match="BOT_ADMIN_IDLE_MINUTES=0"):
        Settings.from_env({"BOT_ADMIN_IDLE_MINUTES": "0"})


# --- browser -----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_upload_page_in_a_browser(
    bot: Bot, tmp_path: Path, desktop: BrowserContext, phone: BrowserContext
) -> None:
    """Upload an .xlsx with one bad row at desktop and phone sizes; every page screenshotted."""
    admin = Admin(bot, await make_team(), [])  # collects script errors and CSP violations
    vehicles_xlsx(tmp_path)
    old_excel = tmp_path / "客户.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0 an Excel 97 file")
    for size, context in (("desktop", desktop), ("phone", phone)):
        page = await admin.open(context)
        await admin.log_in(page, "admin")

        assert await admin.visit(page, UPLOAD, f"import-form-{size}") == 200
        await page.set_input_files("#f-file", str(old_excel))
        await page.click("button:has-text('上传并导入')")
        assert "不支持旧版 .xls 文件" in await page.inner_text("#e-file")
        await page.screenshot(path=screenshot_path(f"admin-import-form-error-{size}"), full_page=True)

        await page.select_option("#f-kind", "vehicles")
        await page.set_input_files("#f-file", str(tmp_path / "车辆.xlsx"))
        await page.click("button:has-text('上传并导入')")
        await page.wait_for_url("**/admin/imports/reports/**")
        assert "不是有效的车牌号" in await page.inner_text("main")
        await page.screenshot(path=screenshot_path(f"admin-import-report-{size}"), full_page=True)

        assert await admin.visit(page, "/admin/exports", f"export-{size}") == 200
    assert not admin.problems, admin.problems
    assert await Vehicle.filter(plate__startswith="粤B001").count() == 2  # the second upload changed nothing
