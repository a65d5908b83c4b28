"""Shared helpers for the admin tests (no tests here): a team of staff in every role, and
logging in / posting forms with the session's CSRF token over real HTTP."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from bot.models import Customer, Role, Staff, Store
from bot.services.passwords import hash_password
from tests import factories

PASSWORD = "correct-horse-9"
CSRF_INPUT = re.compile(r'name="_csrf" value="([^"]+)"')
# every role logs in by username = the role's value, e.g. "service_manager"
ROLE_PHONES = {role: f"1390000{index:04d}" for index, role in enumerate(Role, start=10)}


@functools.cache
def password_hash() -> str:
    """Hashed once per test session: argon2 is slow on purpose."""
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Team:
    """Store A with one staff member per role (GM and admin group-wide), a second advisor in A,
    and store B with its own advisor; each advisor has one customer."""

    store: Store
    other_store: Store
    staff: dict[Role, Staff]
    colleague: Staff  # another advisor of store A
    other_advisor: Staff  # the advisor of store B
    my_customer: Customer  # store A, the role ADVISOR's customer
    colleague_customer: Customer
    other_customer: Customer  # store B

    @property
    def advisor(self) -> Staff:
        return self.staff[Role.ADVISOR]


async def make_team() -> Team:
    store = await factories.store()
    other_store = await factories.store("GZ01", "广州天河4S店")
    staff = {
        role: await factories.staff(
            None if role.is_group_wide else store,
            role,
            name=f"{role.value}-员工",
            phone=ROLE_PHONES[role],
            username=role.value,
            password_hash=password_hash(),
        )
        for role in Role
    }
    colleague = await factories.staff(
        store, name="周顾问", phone="13900000201", username="advisor-2", password_hash=password_hash()
    )
    other_advisor = await factories.staff(
        other_store, name="广州顾问", phone="13900000301", username="advisor-b", password_hash=password_hash()
    )
    mine, _ = await factories.customer_with_car(store, advisor=staff[Role.ADVISOR])
    colleagues, _ = await factories.customer_with_car(
        store, phone="13800000002", plate="粤B22222", name="钱女士", advisor=colleague
    )
    others, _ = await factories.customer_with_car(
        other_store, phone="13800000003", plate="粤A33333", name="孙先生", advisor=other_advisor
    )
    return Team(store, other_store, staff, colleague, other_advisor, mine, colleagues, others)


def csrf_in(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match[1]


async def log_in(client: TestClient, login: str, password: str = PASSWORD) -> ClientResponse:
    page = await client.get("/admin/login")
    token = csrf_in(await page.text())
    return await client.post(
        "/admin/login",
        data={"_csrf": token, "login": login, "password": password},
        allow_redirects=False,
    )


async def post_form(
    client: TestClient, path: str, data: dict[str, Any], *, token_from: str = "/admin/"
) -> ClientResponse:
    """Post `data` with the CSRF token of the page at `token_from`, as a browser would."""
    token = csrf_in(await (await client.get(token_from)).text())
    return await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)


def staff_form(member: Staff) -> dict[str, str]:
    """The staff page's edit form filled in as `member` stands, but for `active`: a box left
    unticked deactivates them; add `{"active": "on"}` to keep or make them active."""
    return {
        "name": member.name,
        "phone": member.phone,
        "username": member.username or "",
        "role": str(member.role),
        "store": str(member.store_id),  # type: ignore[attr-defined]
        "on_duty": "on",
    }
