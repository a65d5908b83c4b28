"""What each kind of import reads from a row and which upsert it feeds.

A row is read in two steps: every cell through its reader (errors collected per column, so the
report names them all at once), then store and advisor names resolved to ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bot.services import records
from bot.services.importing import cells
from bot.services.importing.cells import CellError
from bot.services.importing.columns import Column
from bot.services.importing.references import References

D = TypeVar("D")
Row = Mapping[Column, Any]


class ImportKind(StrEnum):
    CUSTOMERS = "customers"
    VEHICLES = "vehicles"
    POLICIES = "policies"


READERS: Mapping[Column, Callable[[object], object]] = {
    Column.NAME: cells.text(50),
    Column.PHONE: cells.mobile,
    Column.PLATE: cells.plate,
    Column.VIN: cells.vin,
    Column.MODEL_NAME: cells.text(100),
    Column.PURCHASE_DATE: cells.day,
    Column.MILEAGE: cells.kilometres,
    Column.LAST_SERVICE_DATE: cells.day,
    Column.LAST_SERVICE_MILEAGE: cells.kilometres,
    Column.WARRANTY_END: cells.day,
    Column.POLICY_NO: cells.text(64),
    Column.INSURER: cells.text(100),
    Column.STARTS_ON: cells.day,
    Column.ENDS_ON: cells.day,
    Column.STORE: cells.text(100),
    Column.ADVISOR: cells.text(50),
    Column.ADVISOR_PHONE: cells.mobile,
}

# The column to blame when records refuses an item for one of its fields.
REFUSED_FIELDS: Mapping[str, Column] = {
    "store_id": Column.STORE,
    "advisor_id": Column.ADVISOR,
    "owner.store_id": Column.STORE,
    "owner.advisor_id": Column.ADVISOR,
    "vin": Column.VIN,
    "plate": Column.PLATE,
    "ends_on": Column.ENDS_ON,
}

PROBLEMS: Mapping[records.Problem, str] = {
    records.Problem.UNKNOWN_STORE: "未知门店",
    records.Problem.UNKNOWN_ADVISOR: "服务顾问不存在或已停用",
    records.Problem.UNKNOWN_VEHICLE: "系统中没有这个车牌的车辆，请先导入车辆",
    records.Problem.VIN_TAKEN: "该车架号已登记在另一个车牌下",
    records.Problem.VIN_MISMATCH: "该车牌已登记了不同的车架号",
    records.Problem.DATES_REVERSED: "保险到期日早于起保日期",
}


def read_row(
    cells_by_column: Mapping[Column, object], refs: References
) -> tuple[dict[Column, Any], dict[Column, str]]:
    """The row's values (store and advisor as ids, under STORE and ADVISOR) and its cell errors."""
    values: dict[Column, Any] = {}
    errors: dict[Column, str] = {}
    for column, cell in cells_by_column.items():
        if cells.is_blank(cell):
            continue
        try:
            values[column] = READERS[column](cell)
        except CellError as exc:
            errors[column] = exc.reason
    try:
        if Column.STORE in values:
            values[Column.STORE] = refs.store(values[Column.STORE])
    except CellError as exc:
        errors[Column.STORE] = exc.reason
        del values[Column.STORE]
    advisor_column = Column.ADVISOR_PHONE if Column.ADVISOR_PHONE in values else Column.ADVISOR
    if advisor_column in values:
        try:
            values[Column.ADVISOR] = refs.advisor(values.pop(advisor_column), values.get(Column.STORE))
        except CellError as exc:
            errors[advisor_column] = exc.reason
    return values, errors


def _customer(row: Row) -> records.CustomerData:
    return records.CustomerData(
        phone=row[Column.PHONE],
        name=row.get(Column.NAME),
        store_id=row.get(Column.STORE),
        advisor_id=row.get(Column.ADVISOR),
    )


class _Vehicles:
    """An owner's name, store and advisor are taken from the first row with their phone, so a
    file that spells them differently on two rows still imports the same way twice."""

    def __init__(self) -> None:
        self._owners: set[str] = set()

    def __call__(self, row: Row) -> records.VehicleData:
        phone = row[Column.PHONE]
        owner = records.CustomerData(phone) if phone in self._owners else _customer(row)
        self._owners.add(phone)
        return records.VehicleData(
            plate=row[Column.PLATE],
            owner=owner,
            vin=row.get(Column.VIN),
            model_name=row.get(Column.MODEL_NAME),
            purchase_date=row.get(Column.PURCHASE_DATE),
            mileage_km=row.get(Column.MILEAGE),
            last_service_date=row.get(Column.LAST_SERVICE_DATE),
            last_service_mileage_km=row.get(Column.LAST_SERVICE_MILEAGE),
            warranty_end=row.get(Column.WARRANTY_END),
            store_id=row.get(Column.STORE),
        )


def _policy(row: Row) -> records.PolicyData:
    return records.PolicyData(
        policy_no=row[Column.POLICY_NO],
        plate=row[Column.PLATE],
        ends_on=row[Column.ENDS_ON],
        starts_on=row.get(Column.STARTS_ON),
        insurer=row.get(Column.INSURER),
    )


@dataclass(frozen=True)
class KindSpec(Generic[D]):
    required: frozenset[Column]
    optional: frozenset[Column]
    keys: tuple[Column, ...]  # a value repeated in the file makes the later row a duplicate
    new_builder: Callable[[], Callable[[Row], D]]  # one builder per import: it may keep state
    upsert: records.Upsert[D]

    @property
    def columns(self) -> frozenset[Column]:
        return self.required | self.optional


_OWNER = frozenset({Column.NAME, Column.STORE, Column.ADVISOR, Column.ADVISOR_PHONE})

SPECS: Mapping[ImportKind, KindSpec[Any]] = {
    ImportKind.CUSTOMERS: KindSpec(
        required=frozenset({Column.PHONE}),
        optional=_OWNER,
        keys=(Column.PHONE,),
        new_builder=lambda: _customer,
        upsert=records.upsert_customers,
    ),
    ImportKind.VEHICLES: KindSpec(
        required=frozenset({Column.PLATE, Column.PHONE}),
        optional=_OWNER
        | {
            Column.VIN,
            Column.MODEL_NAME,
            Column.PURCHASE_DATE,
            Column.MILEAGE,
            Column.LAST_SERVICE_DATE,
            Column.LAST_SERVICE_MILEAGE,
            Column.WARRANTY_END,
        },
        keys=(Column.PLATE, Column.VIN),
        new_builder=_Vehicles,
        upsert=records.upsert_vehicles,
    ),
    ImportKind.POLICIES: KindSpec(
        required=frozenset({Column.POLICY_NO, Column.PLATE, Column.ENDS_ON}),
        optional=frozenset({Column.INSURER, Column.STARTS_ON}),
        keys=(Column.POLICY_NO,),
        new_builder=lambda: _policy,
        upsert=records.upsert_policies,
    ),
}
