"""Customers: upserted by the DMS by phone, read by staff within their scope (advisors: their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from admin.api import rules
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    ById,
    Id,
    Line50,
    Mobile,
    Page,
    Paging,
    Plate,
    QueryId,
    RequestModel,
    ResponseModel,
    paginate,
)
from admin.api.upserts import upsert_one
from admin.api.vehicles import VehicleOut
from bot.models import Vehicle
from bot.models.audit import CustomerViewLog
from bot.services import records

routes = Routes("customers")


class CustomerIn(RequestModel):
    """Fields left out or null keep their stored values."""

    phone: Mobile = Field(description="The customer's key: a known phone updates that customer.")
    name: Line50 | None = None
    store_id: Id | None = None
    advisor_id: Id | None = Field(None, description="An active advisor's staff id.")


class CustomerOut(ResponseModel):
    id: int
    name: str
    phone: str
    store_id: int | None
    advisor_id: int | None
    created_at: datetime
    updated_at: datetime


class CustomerDetail(CustomerOut):
    vehicles: list[VehicleOut]


class CustomerFilter(Paging):
    store_id: QueryId | None = None
    advisor_id: QueryId | None = None
    phone: Mobile | None = None
    plate: Plate | None = Field(None, description="Customers owning this vehicle.")
    name: Line50 | None = Field(None, description="Part of the name.")


@routes.route(
    "GET",
    "/customers",
    access=rules.VIEW_CUSTOMERS,
    query=CustomerFilter,
    response=Page[CustomerOut],
)
async def list_customers(call: Call, query: CustomerFilter) -> dict[str, Any]:
    """List customers."""
    found = rules.customers(call.principal).filter(**query.lookups("plate", "name"))
    if query.plate is not None:
        found = found.filter(vehicles__plate=query.plate)
    if query.name:
        found = found.filter(name__contains=query.name)
    return await paginate(found.order_by("id"), query)


@routes.route(
    "GET",
    "/customers/{id}",
    access=rules.VIEW_CUSTOMERS,
    path_params=ById,
    response=CustomerDetail,
)
async def get_customer(call: Call, path: ById) -> dict[str, Any]:
    """Read a customer with their vehicles.

    A staff member's read is recorded in the customer view log (personal information access is
    auditable).
    """
    principal = call.principal
    customer = await rules.one(rules.customers(principal), path.id, "No such customer.")
    if principal.staff is not None:
        await CustomerViewLog.create(staff=principal.staff, customer=customer, at=call.now)
    vehicles = await Vehicle.filter(customer_id=customer.id).order_by("id")
    return {**CustomerOut.model_validate(customer).model_dump(), "vehicles": vehicles}


@routes.route(
    "POST",
    "/customers",
    access=rules.WRITE_RECORDS,
    body=CustomerIn,
    response=CustomerOut,
    statuses=(200, 201),
)
async def upsert_customer(call: Call, body: CustomerIn) -> Reply:
    """Create or update a customer (upsert by phone).

    A new phone creates the customer (201); a known phone updates the fields given (200).
    """
    return await upsert_one(records.upsert_customers, records.CustomerData(**body.model_dump()))
