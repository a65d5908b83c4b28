"""Why a work-order request was refused: one exception type per rule, each with a stable `code`.

Messages are written for the developer or staff member reading them (API, admin pages); chat
handlers choose the customer's wording by exception type.
"""

from __future__ import annotations

from typing import ClassVar


class WorkOrderError(Exception):
    code: ClassVar[str] = "work_order_error"


class VehicleNotFound(WorkOrderError):
    code = "vehicle_not_found"


class VehicleInWorkshop(WorkOrderError):
    code = "vehicle_in_workshop"


class NumberTaken(WorkOrderError):
    code = "number_taken"


class WorkOrderNotFound(WorkOrderError):
    code = "work_order_not_found"


class WorkOrderClosed(WorkOrderError):
    code = "work_order_closed"


class InvalidStageChange(WorkOrderError):
    code = "invalid_stage_change"


class ExtraItemNotFound(WorkOrderError):
    code = "extra_item_not_found"


class ExtraItemAnswered(WorkOrderError):
    code = "extra_item_answered"


class InvalidValue(WorkOrderError):
    code = "invalid_value"


class InvoiceConflict(WorkOrderError):
    code = "invoice_conflict"
