"""Stores: read by everyone (store staff see their own store), created and changed by admins."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from admin.api import rules
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    PRINTABLE,
    ById,
    Line32,
    Line100,
    Line255,
    Page,
    Paging,
    RequestModel,
    ResponseModel,
    changes,
    paginate,
)
from admin.api.upserts import save_or_conflict
from bot.models import Store

routes = Routes("stores")

Code = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
StoreName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Radius = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


class StoreIn(RequestModel):
    code: Code = Field(description="The dealer's store code, e.g. SZ01; unique.")
    name: StoreName
    address: Line255 = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    phone: Line32 = ""
    hours: Line100 = ""
    rescue_radius_km: Radius = 30.0


class StoreChange(RequestModel):
    """Fields left out are unchanged; null clears latitude and longitude and leaves the others."""

    code: Code | None = None
    name: StoreName | None = None
    address: Line255 | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    phone: Line32 | None = None
    hours: Line100 | None = None
    rescue_radius_km: Radius | None = None


class StoreOut(ResponseModel):
    id: int
    code: str
    name: str
    address: str
    latitude: float | None
    longitude: float | None
    phone: str
    hours: str
    rescue_radius_km: float


@routes.route("GET", "/stores", access=rules.ANYONE, query=Paging, response=Page[StoreOut])
async def list_stores(call: Call, query: Paging) -> dict[str, Any]:
    """List stores."""
    return await paginate(rules.stores(call.principal).order_by("id"), query)


@routes.route("GET", "/stores/{id}", access=rules.ANYONE, path_params=ById, response=StoreOut)
async def get_store(call: Call, path: ById) -> Store:
    """Read a store."""
    return await rules.one(rules.stores(call.principal), path.id, "No such store.")


@routes.route(
    "POST",
    "/stores",
    access=rules.MANAGE_STORES,
    body=StoreIn,
    response=StoreOut,
    statuses=(201,),
    errors=(409,),
)
async def create_store(call: Call, body: StoreIn) -> Reply:
    """Create a store; 409 if its code is taken."""
    store = Store(**body.model_dump())
    await save_or_conflict(store, "A store with this code exists.", {"code": "already taken"})
    return Reply(store, 201)


@routes.route(
    "PATCH",
    "/stores/{id}",
    access=rules.MANAGE_STORES,
    path_params=ById,
    body=StoreChange,
    response=StoreOut,
    errors=(409,),
)
async def change_store(call: Call, path: ById, body: StoreChange) -> Store:
    """Change a store's details."""
    store = await rules.one(rules.stores(call.principal), path.id, "No such store.")
    store.update_from_dict(changes(body, clearable={"latitude", "longitude"}))
    await save_or_conflict(store, "A store with this code exists.", {"code": "already taken"})
    return store
