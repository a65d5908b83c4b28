"""Records named in a page's URL, fetched within the viewer's scope: outside it they do not
exist (404), so an id of another store's record tells nothing."""

from __future__ import annotations

from aiohttp import web

from admin.access import open_customer, visible_staff
from admin.auth import CURRENT_STAFF
from bot.app import CLOCK
from bot.models import Customer, Staff


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def scoped_staff(request: web.Request) -> Staff:
    member = (
        await visible_staff(request[CURRENT_STAFF]).filter(id=_id(request)).prefetch_related("store").first()
    )
    if member is None:
        raise web.HTTPNotFound()
    return member


async def scoped_customer(request: web.Request) -> Customer:
    """The customer, with this view recorded in the audit log."""
    customer = await open_customer(request[CURRENT_STAFF], _id(request), request.config_dict[CLOCK].now())
    if customer is None:
        raise web.HTTPNotFound()
    return customer
