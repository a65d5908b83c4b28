"""The JSON API under /api/v1, for the DMS (API key) and for staff tools (staff token).

Each module declares its endpoints on its own `routes`; this package composes them into an
aiohttp sub-application and serves the OpenAPI document generated from the same declarations
at /api/v1/openapi.json. Error bodies are always {"code", "message", "fields"} (errors.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from admin.api import (
    appointments,
    complaints,
    customers,
    exports,
    policies,
    session,
    staff,
    stores,
    vehicles,
    workorders,
)
from admin.api.errors import error_middleware
from admin.api.openapi import openapi_document
from admin.api.registry import THROTTLE, mount
from admin.auth import login_throttle, real_client
from bot.app import REDIS

PREFIX = "/api/v1"
OPERATIONS = [
    *session.routes.operations,
    *stores.routes.operations,
    *staff.routes.operations,
    *customers.routes.operations,
    *vehicles.routes.operations,
    *policies.routes.operations,
    *exports.routes.operations,
    *complaints.routes.operations,
    *workorders.routes.operations,
    *appointments.routes.operations,
]
DOCUMENT = web.AppKey("openapi_document", dict)


def setup(app: web.Application) -> None:
    """Register the /api/v1 routes on `app`."""
    api = web.Application(middlewares=[real_client, error_middleware])
    mount(api, OPERATIONS)
    api.router.add_get("/openapi.json", openapi_json)
    api[DOCUMENT] = openapi_document(OPERATIONS, title="售后服务号 API", version="1.0.0", server_url=PREFIX)

    async def throttle(api: web.Application) -> AsyncIterator[None]:
        api[THROTTLE] = login_throttle(app.get(REDIS))  # the parent's Redis is up by now
        yield

    api.cleanup_ctx.append(throttle)
    app.add_subapp(PREFIX, api)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document, public like any API's contract."""
    return web.json_response(request.app[DOCUMENT])
