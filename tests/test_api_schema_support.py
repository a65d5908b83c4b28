"""Schemathesis against the live API (no tests here): records in every area to act on, the
configuration that gives each operation its caller, its record and its business rules, and the
command line run, as CI would.

One run per backend covers every operation: the CLI's start-up, the schema load and the shared
operations are paid for once instead of once per area.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from admin.api import OPERATIONS
from admin.api.principal import Principal
from bot.models import Appointment, Complaint, InsurancePolicy, Role, Staff, Vehicle, WorkOrder
from bot.services.booking.capacity import set_windows
from bot.services.workorders import orders
from bot.services.workorders.orders import DMS
from tests.test_admin_support import make_team
from tests.test_api_support import API_KEY, Api
from tests.test_booking_support import MONDAY, TZ, WEEKDAYS, Workshop, book_for, standard_windows
from tests.test_complaint_support import file_direct

SCHEMATHESIS = Path(sys.executable).with_name("st")
# Per operation; the workshop's and the complaints' get as many as their own runs had before
# they joined this one (their generated requests act on real records, so reach the services).
MAX_EXAMPLES = 15
MORE_EXAMPLES = 25
MORE_EXAMPLES_TAGS = frozenset({"complaints", "work orders", "appointments"})
SEED = "20261123"
# Rules the schema cannot state, answered 422: an id in a body that names no store, advisor or
# vehicle; a time before the car arrived or the stage began, an ETA in the past; a stage out of
# order; a period that ends before it starts.
BUSINESS_RULES = frozenset({
    "upsert_customer", "upsert_vehicle", "upsert_policy", "create_staff", "change_staff",
    "create_work_order", "set_work_order_eta", "change_work_order_stage", "settle_work_order",
    "complaint_figures_for", "list_complaints",
})  # fmt: skip
BUSINESS_RULE_STATUSES = (
    'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]'
)


@dataclass(frozen=True)
class Seeded:
    """Real records for the operations that act on one, so generated requests reach the services."""

    staff_token: str  # a GM's, for the endpoints that refuse API keys (the complaints')
    doomed_token: str  # another of the GM's, for logging out with: the first must stay valid
    spare_staff: Staff  # changed at will: the GM whose token the run uses must stay as it is
    open_order: WorkOrder
    settled_order: WorkOrder
    appointment: Appointment
    answered: Complaint
    resolved: Complaint

    def record_ids(self) -> dict[str, int]:
        """The `id` path parameter of each operation that gets a real record."""
        return {
            "change_staff": self.spare_staff.id,
            "get_work_order": self.open_order.id,
            "change_work_order_stage": self.open_order.id,
            "set_work_order_eta": self.open_order.id,
            "add_work_order_extra_item": self.open_order.id,
            "settle_work_order": self.settled_order.id,
            "get_appointment": self.appointment.id,
            "get_complaint": self.answered.id,
            "respond_to_complaint": self.answered.id,
            "resolve_complaint": self.resolved.id,
        }


async def seed_every_area(api: Api) -> Seeded:
    """Stores and staff of every role, customers with cars and a policy, a workshop with a
    booking and two open work orders, and two open complaints."""
    team = await make_team()
    now = api.bot.clock.now()
    car = await Vehicle.get(customer_id=team.my_customer.id)
    await InsurancePolicy.create(
        vehicle=car, policy_no="PDAA2026001", insurer="人保", ends_on=dt.date(2027, 1, 1)
    )
    await set_windows(team.store.id, WEEKDAYS, standard_windows())
    workshop = Workshop(team.store, team.advisor, team.my_customer, car)
    booking = (await book_for(workshop, MONDAY, dt.time(15, 0), now=now)).appointment
    colleagues_car = await Vehicle.get(customer_id=team.colleague_customer.id)
    return Seeded(
        staff_token=await api.token_for(team.staff[Role.GM]),
        doomed_token=await api.token_for(team.staff[Role.GM]),
        spare_staff=team.other_advisor,
        open_order=(await orders.open_for_plate(car.plate, author=DMS, now=now, tz=TZ)).order,
        settled_order=(await orders.open_for_plate(colleagues_car.plate, author=DMS, now=now, tz=TZ)).order,
        appointment=booking,
        answered=await file_direct(now, customer=team.my_customer, openid="o-fuzz"),
        resolved=await file_direct(now, customer=team.colleague_customer, openid="o-fuzz-2"),
    )


def _bearer(credential: str) -> str:
    return f"headers = {{ Authorization = {json.dumps('Bearer ' + credential)} }}"


def configuration(seeded: Seeded) -> str:
    """schemathesis.toml. Every request carries the API key as a bearer token, except where API
    keys are refused: there a staff token takes the same header's place (an X-API-Key header
    would win over it). One entry per operation, so that no two entries merge."""
    ids = seeded.record_ids()
    entries = [_bearer(API_KEY)]
    for op in OPERATIONS:
        name = op.operation_id
        lines = ["[[operations]]", f"include-operation-id = {json.dumps(name)}"]
        if name == "delete_token":
            lines.append(_bearer(seeded.doomed_token))
        elif op.access is not None and not op.access.allows(Principal()):
            lines.append(_bearer(seeded.staff_token))
        if name in ids:
            lines.append(f"parameters = {{ id = {ids[name]} }}")
        if op.tag in MORE_EXAMPLES_TAGS:
            lines.append(f"generation.max-examples = {MORE_EXAMPLES}")
        if name in BUSINESS_RULES:
            lines.append(BUSINESS_RULE_STATUSES)
        if len(lines) > 2:
            entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n"


async def run_schemathesis(api: Api, seeded: Seeded, tmp_path: Path) -> str:
    """Every check on every operation, generated valid and invalid requests over real HTTP; the
    output, after asserting the run passed (no 5xx, every answer as documented)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(configuration(seeded))
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{api.bot.url}/api/v1/openapi.json",
        "--url",
        f"{api.bot.url}/api/v1",
        "--generation-with-security-parameters",
        "false",  # a generated X-API-Key would override the configured credential
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",  # two threads parse lambdas' source at once, which CPython 3.11's ast does not survive
        "--phases",
        "examples,coverage,fuzzing",
        "--report-dir",
        str(tmp_path / "report"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    finally:
        if process.returncode is None:
            process.kill()
    text = output.decode()
    assert process.returncode == 0, text
    return text
