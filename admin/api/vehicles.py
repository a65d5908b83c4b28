"""Vehicles: upserted by the DMS by VIN or plate, read by staff within their scope."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from admin.api import rules
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    ById,
    Id,
    Kilometres,
    Line50,
    Line100,
    Mobile,
    Page,
    Paging,
    Plate,
    QueryId,
    RequestModel,
    ResponseModel,
    Vin,
    paginate,
)
from admin.api.upserts import upsert_one
from bot.models import Vehicle
from bot.services import records

routes = Routes("vehicles")


class VehicleIn(RequestModel):
    """Fields left out or null keep their stored values."""

    plate: Plate
    owner_phone: Mobile = Field(description="The owner, created when this phone is new.")
    owner_name: Line50 | None = None
    vin: Vin | None = None
    model_name: Line100 | None = None
    purchase_date: date | None = None
    mileage_km: Kilometres | None = None
    last_service_date: date | None = None
    last_service_mileage_km: Kilometres | None = None
    warranty_end: date | None = None
    store_id: Id | None = None


class VehicleOut(ResponseModel):
    id: int
    plate: str
    vin: str | None
    customer_id: int
    store_id: int | None
    model_name: str
    purchase_date: date | None
    mileage_km: int | None
    last_service_date: date | None
    last_service_mileage_km: int | None
    warranty_end: date | None
    created_at: datetime
    updated_at: datetime


class VehicleFilter(Paging):
    store_id: QueryId | None = None
    customer_id: QueryId | None = None
    phone: Mobile | None = Field(None, description="The owner's phone.")
    plate: Plate | None = None
    vin: Vin | None = None


@routes.route(
    "GET",
    "/vehicles",
    access=rules.VIEW_CUSTOMERS,
    query=VehicleFilter,
    response=Page[VehicleOut],
)
async def list_vehicles(call: Call, query: VehicleFilter) -> dict[str, Any]:
    """List vehicles."""
    found = rules.vehicles(call.principal).filter(**query.lookups("phone"))
    if query.phone is not None:
        found = found.filter(customer__phone=query.phone)
    return await paginate(found.order_by("id"), query)


@routes.route(
    "GET",
    "/vehicles/{id}",
    access=rules.VIEW_CUSTOMERS,
    path_params=ById,
    response=VehicleOut,
)
async def get_vehicle(call: Call, path: ById) -> Vehicle:
    """Read a vehicle."""
    return await rules.one(rules.vehicles(call.principal), path.id, "No such vehicle.")


@routes.route(
    "POST",
    "/vehicles",
    access=rules.WRITE_RECORDS,
    body=VehicleIn,
    response=VehicleOut,
    statuses=(200, 201),
    errors=(409,),
)
async def upsert_vehicle(call: Call, body: VehicleIn) -> Reply:
    """Create or update a vehicle (upsert by VIN, else plate).

    A VIN on record under another plate updates that vehicle's plate (re-plated car). 201 when
    created, 200 when it existed. 409 when the VIN belongs to another plate's vehicle, or the
    plate is on record with another VIN. The owner is upserted by phone first.
    """
    values = body.model_dump(exclude={"owner_phone", "owner_name"})
    owner = records.CustomerData(body.owner_phone, body.owner_name)
    return await upsert_one(records.upsert_vehicles, records.VehicleData(owner=owner, **values))
