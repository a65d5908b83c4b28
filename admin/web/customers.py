"""Customers: search by name, phone or plate; the customer's record; assigning their advisor.

Everyone sees only the customers in their scope (admin/access.py); every view of a record is
written to the audit log. Later features add their sections (appointments, work orders,
complaints, points) to the detail page.
"""

from __future__ import annotations

from aiohttp import web
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from admin.access import Permission, allows, assignable_advisors, visible_customers
from admin.auth import CURRENT_STAFF, requires
from admin.web.forms import Form
from admin.web.pagination import paginate
from admin.web.rendering import render
from admin.web.scoping import scoped_customer
from admin.web.sessions import flash
from bot.conversation.validators import parse_mobile
from bot.models import Customer, Follower, InsurancePolicy, Vehicle

routes = web.RouteTableDef()


@routes.get("/customers", name="customers")
@requires(Permission.VIEW_CUSTOMERS)
async def customer_list(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    customers = search(visible_customers(request[CURRENT_STAFF]), query)
    page = await paginate(request, customers.prefetch_related("store", "advisor", "vehicles", "followers"))
    return await render(request, "customers/list.html", {"page": page, "q": query})


def search(customers: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    """Match a name, part of a phone number (spaces ignored) or part of a plate."""
    if not query:
        return customers.order_by("-id")
    phone = parse_mobile(query) or query.replace(" ", "")
    condition = (
        Q(name__icontains=query)
        | Q(phone__contains=phone)
        | Q(vehicles__plate__icontains=query.replace(" ", ""))
    )
    return customers.filter(condition).distinct().order_by("-id")


@routes.get("/customers/{id:\\d+}", name="customers.detail")
@requires(Permission.VIEW_CUSTOMERS)
async def customer_detail(request: web.Request) -> web.Response:
    me, customer = request[CURRENT_STAFF], await scoped_customer(request)
    await customer.fetch_related("store", "advisor")
    vehicles = await Vehicle.filter(customer=customer).order_by("id")
    context = {
        "customer": customer,
        "vehicles": vehicles,
        "policies": await InsurancePolicy.filter(vehicle__customer=customer).prefetch_related("vehicle"),
        "followers": await Follower.filter(customer=customer).order_by("-bound_at"),
        "can_assign": allows(me, Permission.ASSIGN_ADVISOR),
        "advisors_options": [
            (str(advisor.id), f"{advisor.name}（{advisor.phone}）")
            for advisor in await assignable_advisors(me, customer).order_by("name")
        ],
    }
    return await render(request, "customers/detail.html", context)


@routes.post("/customers/{id:\\d+}/advisor", name="customers.advisor")
@requires(Permission.ASSIGN_ADVISOR)
async def assign_advisor(request: web.Request) -> web.Response:
    me = request[CURRENT_STAFF]
    customer = await visible_customers(me).get_or_none(id=int(request.match_info["id"]))
    if customer is None:
        raise web.HTTPNotFound()
    form = Form(await request.post())
    chosen = form.values.get("advisor", "")
    advisor = (
        await assignable_advisors(me, customer).get_or_none(id=int(chosen)) if chosen.isdigit() else None
    )
    if chosen and advisor is None:
        await flash(request, "顾问无效：只能选择该客户所属门店的在职服务顾问。", "error")
    else:
        await Customer.filter(id=customer.id).update(advisor_id=advisor.id if advisor else None)
        await flash(request, f"已将顾问改为 {advisor.name}" if advisor else "已取消该客户的顾问")
    raise web.HTTPSeeOther(request.app.router["customers.detail"].url_for(id=str(customer.id)))
