"""Schemathesis against the work-order and appointment endpoints, with real records to act on.

The suite-wide run (test_api_schema.py) draws ids that name nothing, so it mostly gets 404s here.
This run points the id of every work-order operation at a real open order (and settling at a
second one, the appointment read at a real booking), so generated requests reach the services:
no 5xx, and every answer must match the document.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import time
from pathlib import Path

from bot.models import StageChange, WorkStage
from bot.services.workorders import orders
from bot.services.workorders.orders import DMS
from tests import factories
from tests.test_api_support import API_KEY, Api, api_fixture  # noqa: F401
from tests.test_booking_support import MONDAY, TZ, book_for, make_workshop

SCHEMATHESIS = Path(sys.executable).with_name("st")
# Rules the schema cannot state, answered 422: a stage out of order, a time before the car
# arrived or the stage began, a store or advisor id that names none.
CONFIG = """
[[operations]]
include-operation-id = "create_work_order"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-operation-id = ["change_work_order_stage", "set_work_order_eta"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
parameters = {{ id = {open} }}

[[operations]]
include-operation-id = ["get_work_order", "add_work_order_extra_item"]
parameters = {{ id = {open} }}

[[operations]]
include-operation-id = "settle_work_order"
parameters = {{ id = {settled} }}

[[operations]]
include-operation-id = "get_appointment"
parameters = {{ id = {appointment} }}
"""


async def test_schemathesis_on_the_workshop_endpoints(api: Api, tmp_path: Path) -> None:
    shop = await make_workshop()
    now = api.bot.clock.now()
    booking = (await book_for(shop, MONDAY, time(15, 0), now=now)).appointment
    await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    open_order = (await orders.open_for_plate("粤B12345", author=DMS, now=now, tz=TZ)).order
    settled = (await orders.open_for_plate("粤B54321", author=DMS, now=now, tz=TZ)).order
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(open=open_order.id, settled=settled.id, appointment=booking.id))

    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{api.bot.url}/api/v1/openapi.json",
        "--url",
        f"{api.bot.url}/api/v1",
        "--header",
        f"X-API-Key: {API_KEY}",
        "--include-tag",
        "work orders",
        "--include-tag",
        "appointments",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261123",
        "--phases",
        "examples,coverage,fuzzing",
        "--report-dir",
        str(tmp_path / "report"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    finally:
        if process.returncode is None:
            process.kill()

    assert process.returncode == 0, output.decode()
    assert "9 selected" in output.decode()
    moved = await StageChange.filter(work_order_id=open_order.id).exclude(to_stage=WorkStage.RECEIVED)
    assert moved, "no generated request got through to the stage service"
