"""Why a booking request was refused: one exception type per rule, each with a stable `code`.

Chat handlers pick the customer's wording by exception type; the API reports `code` and the
message (written for the developer or staff member reading it).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar


class Unbookable(StrEnum):
    """Why a whole day cannot be booked."""

    PAST = "past"
    TOO_FAR = "too_far"
    CLOSED = "closed"
    NO_HOURS = "no_hours"  # no window that weekday takes this service (or all have started)
    FULL = "full"


class BookingError(Exception):
    code: ClassVar[str] = "booking_error"


class CapacityConfigError(BookingError):
    code = "invalid_capacity"


class DayNotBookable(BookingError):
    code = "day_not_bookable"

    def __init__(self, day: date, reason: Unbookable) -> None:
        super().__init__(f"{day.isoformat()} cannot be booked: {reason.value}")
        self.day = day
        self.reason = reason


class SlotNotFound(BookingError):
    code = "slot_not_found"


class SlotFull(BookingError):
    code = "slot_full"


class VehicleNotFound(BookingError):
    """Also what a customer gets for someone else's vehicle: it does not say whose it is."""

    code = "vehicle_not_found"


class AppointmentNotFound(BookingError):
    code = "appointment_not_found"


class AppointmentClosed(BookingError):
    """Cancelled, fulfilled, marked no-show or already started: it can no longer change."""

    code = "appointment_closed"
