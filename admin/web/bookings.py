"""The day's appointments for the workshop: advisors see their customers', managers their store's.

A booked customer who turns up is received here: 到店接车 opens the car's work order (已接车),
which marks the booking fulfilled; a car already in the workshop just has its booking fulfilled.
未到店 marks a no-show once the booked time has begun. The rules are the services'; this module
shows the day and explains refusals in Chinese.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from yarl import URL

from admin.access import Permission, visible_appointments, visible_stores, visible_work_orders
from admin.auth import CURRENT_STAFF, requires
from admin.web.capacity import day_label
from admin.web.rendering import render
from admin.web.sessions import flash
from admin.web.workshop_errors import explain
from bot.app import CLOCK, SETTINGS
from bot.models import Appointment, AppointmentStatus, WorkOrder
from bot.services.booking import appointments
from bot.services.booking.errors import BookingError
from bot.services.workorders import orders
from bot.services.workorders.errors import VehicleInWorkshop, WorkOrderError
from bot.services.workorders.orders import Author

routes = web.RouteTableDef()

STATUS_LABELS = {
    AppointmentStatus.BOOKED: ("待到店", "neutral"),
    AppointmentStatus.FULFILLED: ("已到店", "ok"),
    AppointmentStatus.NO_SHOW: ("未到店", "danger"),
    AppointmentStatus.CANCELLED: ("已取消", "warn"),
}


@routes.get("/appointments", name="appointments")
@requires(Permission.VIEW_WORKSHOP)
async def day_list(request: web.Request) -> web.Response:
    """One day's bookings (today unless `day`), soonest first, cancelled ones left out."""
    me, now = request[CURRENT_STAFF], request.config_dict[CLOCK].now()
    today = now.astimezone(request.config_dict[SETTINGS].tz).date()
    day = _day(request.query.get("day"), today)
    stores = await visible_stores(me).order_by("code")
    store_id = request.query.get("store", "")
    shown = (
        visible_appointments(me)
        .filter(day=day)
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("starts_at", "id")
        .prefetch_related("customer", "vehicle", "advisor", "store")
    )
    if store_id.isdigit():
        shown = shown.filter(store_id=int(store_id))
    booked = await shown
    orders_of = {
        order.appointment_id: order  # type: ignore[attr-defined]
        for order in await visible_work_orders(me).filter(appointment_id__in=[a.id for a in booked])
    }
    context = {
        "appointments": booked,
        "orders_of": orders_of,
        "counts": Counter(a.status for a in booked),
        "statuses": STATUS_LABELS,
        "day": day,
        "day_label": day_label(day),
        "today": today,
        "days": {"previous": day - timedelta(days=1), "next": day + timedelta(days=1)},
        "now": now,
        "stores": stores if len(stores) > 1 else [],
        "store_id": store_id,
        "here": str(request.rel_url),
    }
    return await render(request, "bookings/day.html", context)


@routes.post("/appointments/{id:\\d+}/arrived", name="appointments.arrived")
@requires(Permission.HANDLE_WORKSHOP)
async def arrived(request: web.Request) -> web.Response:
    """The customer is here: open the car's work order (which fulfils the booking)."""
    me, appointment = request[CURRENT_STAFF], await _appointment(request)
    now, tz = request.config_dict[CLOCK].now(), request.config_dict[SETTINGS].tz
    back = await _back(request)
    order: WorkOrder | None = None
    try:
        if appointment.status is AppointmentStatus.BOOKED:
            order = await _receive(appointment, me.id, now=now, tz=tz)
        await appointments.mark_arrived(appointment.id, now=now)  # a no-op when opening fulfilled it
    except (BookingError, WorkOrderError) as exc:
        await flash(request, explain(exc), "error")
        raise web.HTTPSeeOther(back) from None
    order = order or await visible_work_orders(me).filter(appointment_id=appointment.id).first()
    name = appointment.customer.name or appointment.vehicle.plate
    if order is None:
        await flash(request, f"{name} 已到店。")
        raise web.HTTPSeeOther(back)
    await flash(request, f"{name} 已到店，工单 {order.number}（{order.stage.label}）。")
    raise web.HTTPSeeOther(request.app.router["workorders.detail"].url_for(id=str(order.id)))


async def _receive(appointment: Appointment, staff_id: int, *, now: datetime, tz: ZoneInfo) -> WorkOrder:
    """The car's new work order, or the one it is already in the workshop with."""
    try:
        opened = await orders.open_for_plate(
            appointment.vehicle.plate,
            author=Author.staff(staff_id),
            now=now,
            tz=tz,
            store_id=appointment.store_id,  # type: ignore[attr-defined]
            advisor_id=appointment.advisor_id,  # type: ignore[attr-defined]
        )
    except VehicleInWorkshop:
        return await WorkOrder.get(open_vehicle_id=appointment.vehicle.id)
    return opened.order


@routes.post("/appointments/{id:\\d+}/no-show", name="appointments.no_show")
@requires(Permission.HANDLE_WORKSHOP)
async def no_show(request: web.Request) -> web.Response:
    appointment = await _appointment(request)
    back = await _back(request)
    try:
        await appointments.mark_no_show(appointment.id, now=request.config_dict[CLOCK].now())
    except BookingError as exc:
        await flash(request, explain(exc), "error")
    else:
        await flash(request, f"已将 {appointment.customer.name or appointment.vehicle.plate} 标记为未到店。")
    raise web.HTTPSeeOther(back)


async def _appointment(request: web.Request) -> Appointment:
    appointment = (
        await visible_appointments(request[CURRENT_STAFF])
        .filter(id=int(request.match_info["id"]))
        .prefetch_related("customer", "vehicle")
        .first()
    )
    if appointment is None:
        raise web.HTTPNotFound()
    return appointment


async def _back(request: web.Request) -> str:
    """Back to the list the button was on (only ever an appointments page)."""
    back = str((await request.post()).get("next", ""))
    listing = str(request.app.router["appointments"].url_for())
    return back if URL(back).path == listing and not URL(back).is_absolute() else listing


def _day(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today
