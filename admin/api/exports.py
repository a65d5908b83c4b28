"""CSV downloads of customer and vehicle lists, within the caller's scope (bot.services.exports)."""

from __future__ import annotations

from admin.api import rules
from admin.api.registry import Call, CsvDownload, Routes
from admin.api.schemas import QueryId, QueryModel
from bot.services.exports import customers_csv, vehicles_csv

routes = Routes("exports")


class ExportFilter(QueryModel):
    store_id: QueryId | None = None


@routes.route("GET", "/exports/customers.csv", access=rules.EXPORT_LISTS, query=ExportFilter, csv=True)
async def export_customers(call: Call, query: ExportFilter) -> CsvDownload:
    """Download customers as CSV (UTF-8 with BOM, the import's Chinese headers)."""
    found = rules.customers(call.principal).filter(**query.lookups())
    return CsvDownload("customers.csv", customers_csv(found))


@routes.route("GET", "/exports/vehicles.csv", access=rules.EXPORT_LISTS, query=ExportFilter, csv=True)
async def export_vehicles(call: Call, query: ExportFilter) -> CsvDownload:
    """Download vehicles with their owners as CSV (UTF-8 with BOM, the import's Chinese headers)."""
    found = rules.vehicles(call.principal).filter(**query.lookups())
    return CsvDownload("vehicles.csv", vehicles_csv(found))
