"""DMS export files made on the fly: .xlsx written with openpyxl, CSV in any encoding."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

VEHICLE_HEADERS = ["姓名", "手机", "车牌", "车架号", "车型", "购车日期", "里程", "上次保养日期", "门店"]


def vehicle_row(index: int, store: str = "SZ01") -> list[object]:
    """Row `index` of a vehicle export as Excel holds it: phones as numbers, dates as dates."""
    return [
        f"客户{index}",
        13800000000 + index,
        f"粤B{index:05d}",
        f"LSVAU2180N{index:07d}",
        "雅阁",
        dt.datetime(2020, 1, 1) + dt.timedelta(days=index % 1500),
        1000 + index * 3,
        dt.datetime(2026, 1, 1) + dt.timedelta(days=index % 300),
        store,
    ]


def write_xlsx(path: Path, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("客户车辆")
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def csv_bytes(headers: Sequence[str], rows: Sequence[Sequence[object]], encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
