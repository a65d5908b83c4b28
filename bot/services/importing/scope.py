"""A store's own import (a store manager's): only rows of that store are written.

A row is the store's when the store it names is this one (a row naming none is taken to be for
it) and every record it would change is already this store's: the customer by phone, the vehicle
by plate or VIN, the policy by number, each judged by its owner's store, as admin.access judges
what a manager may see. Any other row is a row error, and nothing is written for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.models import Model

from bot.models import Customer, InsurancePolicy, Vehicle
from bot.services.importing.columns import Column

Row = tuple[int, dict[Column, Any]]  # the spreadsheet's row number, the row's values

OTHER_STORE = "只能导入本门店的数据"


@dataclass(frozen=True)
class _Owned:
    """Where a record named by a column is stored, and how to reach its owner's store."""

    model: type[Model]
    key: str
    owner_store: str
    name: str  # what the record is called in a row error


OWNED: Mapping[Column, _Owned] = {
    Column.PHONE: _Owned(Customer, "phone", "store_id", "客户"),
    Column.PLATE: _Owned(Vehicle, "plate", "customer__store_id", "车辆"),
    Column.VIN: _Owned(Vehicle, "vin", "customer__store_id", "车辆"),
    Column.POLICY_NO: _Owned(InsurancePolicy, "policy_no", "vehicle__customer__store_id", "保单"),
}


@dataclass(frozen=True)
class StoreScope:
    store_id: int

    def claim(self, values: dict[Column, Any], columns: Collection[Column]) -> dict[Column, str]:
        """Put a row that names no store in this one; an error for a row naming another."""
        if Column.STORE not in columns:
            return {}
        named = values.setdefault(Column.STORE, self.store_id)
        return {} if named == self.store_id else {Column.STORE: OTHER_STORE}

    async def foreign(self, rows: Sequence[Row]) -> dict[int, dict[Column, str]]:
        """The rows (by number) that would change another store's records, with why, per column."""
        errors: dict[int, dict[Column, str]] = defaultdict(dict)
        for column, owned in OWNED.items():
            named = {values[column] for _, values in rows if column in values}
            if not named:
                continue
            found = owned.model.filter(**{f"{owned.key}__in": named})
            stores = dict(await found.values_list(owned.key, owned.owner_store))
            for number, values in rows:
                if column in values and values[column] in stores and stores[values[column]] != self.store_id:
                    errors[number][column] = f"该{owned.name}不属于本门店，本行未导入"
        return errors
