"""Insurance policies: upserted by the DMS by policy number, read by staff within their scope."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AliasPath, Field, StringConstraints

from admin.api import rules
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import (
    ById,
    Line100,
    Page,
    Paging,
    Plate,
    QueryDate,
    QueryId,
    RequestModel,
    ResponseModel,
    paginate,
)
from admin.api.upserts import upsert_one
from bot.models import InsurancePolicy
from bot.services import records

routes = Routes("policies")

PolicyNo = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!-~]+$")]


class PolicyIn(RequestModel):
    """Fields left out or null keep their stored values."""

    policy_no: PolicyNo = Field(description="The policy's key: a known number updates that policy.")
    plate: Plate = Field(description="The insured vehicle, which must be on record.")
    ends_on: date
    starts_on: date | None = None
    insurer: Line100 | None = None


class PolicyOut(ResponseModel):
    id: int
    policy_no: str
    vehicle_id: int
    plate: str = Field(validation_alias=AliasPath("vehicle", "plate"))
    insurer: str
    starts_on: date | None
    ends_on: date
    created_at: datetime
    updated_at: datetime


class PolicyFilter(Paging):
    store_id: QueryId | None = Field(None, description="The insured vehicle's store.")
    vehicle_id: QueryId | None = None
    plate: Plate | None = None
    expiring_before: QueryDate | None = Field(None, description="Policies ending before this day.")
    expiring_from: QueryDate | None = Field(None, description="Policies ending on or after this day.")


@routes.route(
    "GET",
    "/policies",
    access=rules.VIEW_CUSTOMERS,
    query=PolicyFilter,
    response=Page[PolicyOut],
)
async def list_policies(call: Call, query: PolicyFilter) -> dict[str, Any]:
    """List insurance policies, soonest ending first."""
    found = rules.policies(call.principal).select_related("vehicle")
    lookups = {
        "vehicle__store_id": query.store_id,
        "vehicle_id": query.vehicle_id,
        "vehicle__plate": query.plate,
        "ends_on__lt": query.expiring_before,
        "ends_on__gte": query.expiring_from,
    }
    found = found.filter(**{lookup: value for lookup, value in lookups.items() if value is not None})
    return await paginate(found.order_by("ends_on", "id"), query)


@routes.route(
    "GET",
    "/policies/{id}",
    access=rules.VIEW_CUSTOMERS,
    path_params=ById,
    response=PolicyOut,
)
async def get_policy(call: Call, path: ById) -> InsurancePolicy:
    """Read an insurance policy."""
    return await rules.one(
        rules.policies(call.principal).select_related("vehicle"), path.id, "No such policy."
    )


@routes.route(
    "POST",
    "/policies",
    access=rules.WRITE_RECORDS,
    body=PolicyIn,
    response=PolicyOut,
    statuses=(200, 201),
)
async def upsert_policy(call: Call, body: PolicyIn) -> Reply:
    """Create or update an insurance policy (upsert by policy number).

    201 when created, 200 when it existed. 422 when no vehicle has the plate, or the policy
    would end before it starts.
    """
    reply = await upsert_one(records.upsert_policies, records.PolicyData(**body.model_dump()))
    await reply.body.fetch_related("vehicle")  # type: ignore[attr-defined]
    return reply
