"""A DMS export of 10,000 vehicles with 3 bad rows: 9,997 stored, 3 reported, a re-import idle.

It runs on SQLite only: it takes tens of seconds on either backend, and the upsert code it
exercises runs on PostgreSQL in tests/test_import.py. Run with `-s` to see the timings:
`.venv/bin/python -m pytest tests/test_import_10k.py -s -q`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import Customer, Vehicle
from bot.services.importing import RowError, import_file
from tests import factories
from tests.backends import Backend
from tests.data.dms_files import VEHICLE_HEADERS, vehicle_row, write_xlsx

ROWS = 10_000
# "Well under a minute" on this project's 2-core machines; typical runs take a few seconds.
TIME_LIMIT_SECONDS = 30


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_ten_thousand_rows_with_three_bad_ones(db: Backend, tmp_path: Path) -> None:
    await factories.store()
    rows = [vehicle_row(index) for index in range(1, ROWS + 1)]
    rows[99][1] = "1380000"  # sheet row 101
    rows[4999][5] = "去年春天"  # sheet row 5001
    rows[9998][2] = "粤B1"  # sheet row 10000
    path = write_xlsx(tmp_path / "dms-export.xlsx", VEHICLE_HEADERS, rows)

    first = await import_file("vehicles", path)
    second = await import_file("vehicles", path)

    print(f"\n[{db.name}] 10,000-row import: {first.seconds:.1f}s first, {second.seconds:.1f}s again")
    assert (first.created, first.updated, first.unchanged, first.failed) == (9_997, 0, 0, 3)
    assert first.errors == [
        RowError(101, "手机", "不是有效的 11 位手机号"),
        RowError(5001, "购车日期", "无法识别的日期，请写成 2024-05-01"),
        RowError(10000, "车牌", "不是有效的车牌号"),
    ]
    assert await Vehicle.all().count() == 9_997 and await Customer.all().count() == 9_997
    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 9_997, 3)
    assert first.seconds < TIME_LIMIT_SECONDS and second.seconds < TIME_LIMIT_SECONDS
