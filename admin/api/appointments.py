"""Appointments (预约): listed by store, day and status, and read, within the caller's scope
(advisors their customers' bookings, store staff their store's, the DMS all). Customers make,
move and cancel bookings in chat; the API reads them (e.g. for the DMS's workshop plan)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from admin.access import Permission
from admin.api import rules
from admin.api.registry import Call, Routes
from admin.api.schemas import ById, Page, Paging, Plate, QueryDate, QueryId, ResponseModel, paginate
from bot.models import Appointment, AppointmentStatus, ServiceType

routes = Routes("appointments")

VIEW = rules.permitted(Permission.VIEW_WORKSHOP)


class AppointmentOut(ResponseModel):
    id: int
    number: str
    status: AppointmentStatus
    customer_id: int
    vehicle_id: int
    plate: str
    store_id: int
    advisor_id: int | None
    service_type: ServiceType
    service_label: str
    day: date
    starts: str = Field(description="Local time the window starts, HH:MM.", examples=["10:00"])
    ends: str = Field(description="Local time the window ends, HH:MM.", examples=["11:30"])
    starts_at: datetime
    ends_at: datetime
    off_peak_bonus: int = Field(description="Points for an off-peak (错峰) slot; 0 when not off-peak.")
    created_at: datetime
    cancelled_at: datetime | None
    fulfilled_at: datetime | None = Field(description="When the car arrived.")


class AppointmentFilter(Paging):
    store_id: QueryId | None = None
    day: QueryDate | None = Field(None, description="The booked day (local), YYYY-MM-DD.")
    status: AppointmentStatus | None = None
    advisor_id: QueryId | None = None
    customer_id: QueryId | None = None
    plate: Plate | None = None


def _out(appointment: Appointment) -> dict[str, Any]:
    fields = AppointmentOut.model_fields.keys() - {"plate", "service_label", "starts", "ends"}
    return {
        **{name: getattr(appointment, name) for name in fields},
        "plate": appointment.vehicle.plate,
        "service_label": appointment.service_type.label,
        "starts": f"{appointment.starts:%H:%M}",
        "ends": f"{appointment.ends:%H:%M}",
    }


@routes.route(
    "GET",
    "/appointments",
    access=VIEW,
    query=AppointmentFilter,
    response=Page[AppointmentOut],
)
async def list_appointments(call: Call, query: AppointmentFilter) -> dict[str, Any]:
    """List appointments, soonest first."""
    found = rules.appointments(call.principal).filter(**query.lookups("plate"))
    if query.plate is not None:
        found = found.filter(vehicle__plate=query.plate)
    return await paginate(found.order_by("starts_at", "id").prefetch_related("vehicle"), query, _out)


@routes.route("GET", "/appointments/{id}", access=VIEW, path_params=ById, response=AppointmentOut)
async def get_appointment(call: Call, path: ById) -> dict[str, Any]:
    """Read an appointment."""
    visible = rules.appointments(call.principal).prefetch_related("vehicle")
    return _out(await rules.one(visible, path.id, "No such appointment."))
