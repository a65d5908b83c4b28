"""Appointments (预约) and the capacity they draw on: time windows, places per service type, closed days.

Capacity is enforced by the database, not by counting in Python: every booked appointment holds
one `SlotPlace` row, numbered 1..capacity, and a unique constraint over (store, day, window,
service type, place number) means two requests can never hold the same place. Cancelling or
moving an appointment deletes its place row, so the place is free again at once.

Window times are minutes after local midnight (store time zone), which every backend stores alike.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ServiceType(StrEnum):
    FIRST_SERVICE = "first_service"
    MAINTENANCE = "maintenance"
    REPAIR = "repair"
    BODYWORK = "bodywork"
    WARRANTY = "warranty"

    @property
    def label(self) -> str:
        """The dealer's own name for the service: shown to customers and staff, matched in chat."""
        return _SERVICE_LABELS[self]


_SERVICE_LABELS = {
    ServiceType.FIRST_SERVICE: "首保",
    ServiceType.MAINTENANCE: "定期保养",
    ServiceType.REPAIR: "一般维修",
    ServiceType.BODYWORK: "钣金喷漆",
    ServiceType.WARRANTY: "保修",
}


def minute_to_time(minute: int) -> dt.time:
    return dt.time(minute // 60, minute % 60)


class SlotWindow(Model):
    """A bookable time window of a store on one weekday (0 = Monday), e.g. 08:30-10:00.

    `off_peak_bonus` > 0 marks an off-peak (错峰) window: booking it earns that many points.
    """

    id = fields.IntField(primary_key=True)
    store: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Store", related_name="slot_windows", on_delete=fields.CASCADE
    )
    weekday = fields.SmallIntField()
    start_minute = fields.SmallIntField()
    end_minute = fields.SmallIntField()
    off_peak_bonus = fields.IntField(default=0)
    capacities: fields.ReverseRelation[SlotCapacity]

    class Meta:
        table = "slot_window"
        unique_together = (("store", "weekday", "start_minute"),)
        ordering = ["weekday", "start_minute"]

    @property
    def starts(self) -> dt.time:
        return minute_to_time(self.start_minute)

    @property
    def ends(self) -> dt.time:
        return minute_to_time(self.end_minute)


class SlotCapacity(Model):
    """How many cars of one service type a window takes (bays and technicians for that work)."""

    id = fields.IntField(primary_key=True)
    window: fields.ForeignKeyRelation[SlotWindow] = fields.ForeignKeyField(
        "models.SlotWindow", related_name="capacities", on_delete=fields.CASCADE
    )
    service_type = fields.CharEnumField(ServiceType, max_length=16)
    capacity = fields.SmallIntField()

    class Meta:
        table = "slot_capacity"
        unique_together = (("window", "service_type"),)


class ClosedDay(Model):
    """A day a store takes no bookings (holidays, stock-taking), whatever its weekly windows say."""

    id = fields.IntField(primary_key=True)
    store: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Store", related_name="closed_days", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    reason = fields.CharField(max_length=100, default="")

    class Meta:
        table = "closed_day"
        unique_together = (("store", "day"),)
        ordering = ["day"]


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"  # the car arrived (work order opened, or marked by the advisor)
    NO_SHOW = "no_show"


class Appointment(Model):
    """A booking of one vehicle for one service type in one window of one day.

    The window's times are copied in (`start_minute`, `starts_at`...) so that editing a store's
    windows later never moves a booking already made. `request_key` makes a repeated 确认 return
    the booking already made instead of making a second one.
    """

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=20, unique=True, null=True)  # set right after insert
    request_key = fields.CharField(max_length=64, unique=True, null=True)
    customer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Customer", related_name="appointments", on_delete=fields.CASCADE
    )
    vehicle: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Vehicle", related_name="appointments", on_delete=fields.CASCADE
    )
    store: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Store", related_name="appointments", on_delete=fields.RESTRICT
    )
    advisor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="appointments", null=True, on_delete=fields.SET_NULL
    )
    service_type = fields.CharEnumField(ServiceType, max_length=16)
    day = fields.DateField(db_index=True)
    start_minute = fields.SmallIntField()
    end_minute = fields.SmallIntField()
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    off_peak_bonus = fields.IntField(default=0)
    status = fields.CharEnumField(AppointmentStatus, max_length=16, default=AppointmentStatus.BOOKED)
    created_at = fields.DatetimeField()
    cancelled_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "appointment"
        ordering = ["starts_at", "id"]
        indexes = (("status", "day"),)

    @property
    def starts(self) -> dt.time:
        return minute_to_time(self.start_minute)

    @property
    def ends(self) -> dt.time:
        return minute_to_time(self.end_minute)


class SlotPlace(Model):
    """One taken place of a window on a day: the row whose uniqueness stops overbooking."""

    id = fields.IntField(primary_key=True)
    store: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Store", related_name="slot_places", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    start_minute = fields.SmallIntField()
    service_type = fields.CharEnumField(ServiceType, max_length=16)
    place_no = fields.SmallIntField()
    appointment: fields.OneToOneRelation[Appointment] = fields.OneToOneField(
        "models.Appointment", related_name="place", on_delete=fields.CASCADE
    )

    class Meta:
        table = "slot_place"
        unique_together = (("store", "day", "start_minute", "service_type", "place_no"),)
