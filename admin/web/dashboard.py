"""The landing page: what each role looks at first. Later features add their cards here."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from admin.access import Permission, allows, visible_customers, visible_staff
from admin.auth import CURRENT_STAFF
from admin.web.rendering import render
from bot.models import Role, Staff, Store

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Card:
    label: str
    value: int | str
    route: str  # the page that lists what the card counts
    note: str = ""


@routes.get("/", name="dashboard")
async def dashboard(request: web.Request) -> web.Response:
    staff = request[CURRENT_STAFF]
    return await render(request, "dashboard.html", {"cards": await cards_for(staff)})


async def cards_for(staff: Staff) -> list[Card]:
    """The figures `staff` may see, each linking to the page behind it."""
    customers = visible_customers(staff)
    label = "我的客户" if Role(staff.role) is Role.ADVISOR else "客户"
    note = ""
    if allows(staff, Permission.ASSIGN_ADVISOR):
        note = f"其中 {await customers.filter(advisor_id__isnull=True).count()} 位未分配顾问"
    cards = [Card(label, await customers.count(), "customers", note)]
    if allows(staff, Permission.VIEW_STAFF):
        team = visible_staff(staff).filter(active=True)
        on_duty = await team.filter(on_duty=True).count()
        unbound = await team.filter(openid__isnull=True).count()
        cards.append(
            Card("在岗员工", f"{on_duty} / {await team.count()}", "staff", f"{unbound} 人未绑定微信")
        )
    if allows(staff, Permission.MANAGE_STORES):
        cards.append(Card("门店", await Store.all().count(), "stores"))
    return cards
