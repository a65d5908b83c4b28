"""Customer and vehicle lists as CSV for Excel: streamed, UTF-8 with a BOM, import-compatible.

The columns carry the same Chinese headers the import reads, so an exported list can be edited
in Excel and imported back. Rows are read a page at a time by id, so a list of any length is
streamed in constant memory. The caller passes the query already narrowed to what the staff
member may see (admin.access); nothing here decides who sees what.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from bot.models import Customer, Vehicle

PAGE = 1000
BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel; a leading apostrophe makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

M = TypeVar("M", bound=Model)

CUSTOMER_HEADERS = ("姓名", "手机", "门店", "服务顾问", "顾问手机")
VEHICLE_HEADERS = (
    "车牌",
    "车架号",
    "车型",
    "姓名",
    "手机",
    "门店",
    "购车日期",
    "里程",
    "上次保养日期",
    "上次保养里程",
    "质保到期日",
)


def customers_csv(customers: QuerySet[Customer]) -> AsyncIterator[bytes]:
    """The customers of `customers` (e.g. admin.access.visible_customers(staff)) as CSV chunks."""
    return _csv(
        CUSTOMER_HEADERS,
        customers.select_related("store", "advisor"),
        lambda c: (
            c.name,
            c.phone,
            c.store.code if c.store else "",
            c.advisor.name if c.advisor else "",
            c.advisor.phone if c.advisor else "",
        ),
    )


def vehicles_csv(vehicles: QuerySet[Vehicle]) -> AsyncIterator[bytes]:
    """The vehicles of `vehicles` with their owners, as CSV chunks."""
    return _csv(
        VEHICLE_HEADERS,
        vehicles.select_related("customer", "store"),
        lambda v: (
            v.plate,
            v.vin,
            v.model_name,
            v.customer.name,
            v.customer.phone,
            v.store.code if v.store else "",
            v.purchase_date,
            v.mileage_km,
            v.last_service_date,
            v.last_service_mileage_km,
            v.warranty_end,
        ),
    )


async def _csv(
    headers: Sequence[str], query: QuerySet[M], row: Callable[[M], Iterable[object]]
) -> AsyncIterator[bytes]:
    yield (BOM + _line(headers)).encode()
    last_id = 0
    while page := await query.filter(id__gt=last_id).order_by("id").limit(PAGE):
        yield "".join(_line(row(record)) for record in page).encode()
        last_id = page[-1].pk


def _line(cells: Iterable[object]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(_cell(cell) for cell in cells)
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
