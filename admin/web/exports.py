"""Customer and vehicle lists as CSV downloads, for the roles that may export (managers, GM, admin).

Each list holds only what the staff member may see (admin.access.visible_customers: a manager
their store's customers, the GM and admins everyone's), optionally narrowed to one store. The
rows are streamed from bot.services.exports a page at a time, so a list of any length downloads
in constant memory; the columns are the import's, so an edited list can be imported back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from admin.access import Permission, visible_customers, visible_stores
from admin.auth import CURRENT_STAFF, requires
from admin.web.rendering import render
from bot.app import CLOCK, SETTINGS
from bot.models import Customer, Vehicle
from bot.services.exports import customers_csv, vehicles_csv

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/exports", name="exports")
@requires(Permission.EXPORT_LISTS)
async def export_page(request: web.Request) -> web.Response:
    stores = await visible_stores(request[CURRENT_STAFF]).order_by("code")
    customers = _customers(request)
    context = {
        "store_options": [(str(store.id), f"{store.name}（{store.code}）") for store in stores],
        "store": request.query.get("store", ""),
        "customers": await customers.count(),
        "vehicles": await _vehicles_of(customers).count(),
    }
    return await render(request, "imports/exports.html", context)


@routes.get("/exports/customers.csv", name="exports.customers")
@requires(Permission.EXPORT_LISTS)
async def customers_download(request: web.Request) -> web.StreamResponse:
    return await _download(request, "customers", customers_csv(_customers(request)))


@routes.get("/exports/vehicles.csv", name="exports.vehicles")
@requires(Permission.EXPORT_LISTS)
async def vehicles_download(request: web.Request) -> web.StreamResponse:
    return await _download(request, "vehicles", vehicles_csv(_vehicles_of(_customers(request))))


def _customers(request: web.Request) -> QuerySet[Customer]:
    """The viewer's customers, of the store in `?store=` if one is chosen (within their scope)."""
    customers = visible_customers(request[CURRENT_STAFF])
    store = request.query.get("store", "")
    if not store:
        return customers
    if not store.isdigit():
        raise web.HTTPBadRequest()
    return customers.filter(store_id=int(store))


def _vehicles_of(customers: QuerySet[Customer]) -> QuerySet[Vehicle]:
    return Vehicle.filter(customer_id__in=Subquery(customers.values("id")))


async def _download(request: web.Request, name: str, chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Stream `chunks` as a CSV attachment; who exported what is logged (personal information)."""
    now = request.config_dict[CLOCK].now().astimezone(request.config_dict[SETTINGS].tz)
    log.info(
        "admin export",
        extra={"staff_id": request[CURRENT_STAFF].id, "list": name, "store": request.query.get("store")},
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}-{now:%Y%m%d}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
