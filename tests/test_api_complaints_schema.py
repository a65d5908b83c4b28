"""Schemathesis against the complaint endpoints with a GM's staff token.

The suite-wide run (test_api_schema.py) calls with the DMS's API key, which complaints refuse
(403) except for the figures, so it never reaches their validation or the services behind them.
This run does: generated valid and invalid requests must get no 5xx, and every answer must
match the document. respond and resolve each act on a real open complaint, so generated
requests reach the services.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.models import ComplaintEvent, Role
from bot.models.complaint import EventKind
from tests.test_admin_support import make_team
from tests.test_api_support import Api, api_fixture  # noqa: F401
from tests.test_complaint_support import file_direct

SCHEMATHESIS = Path(sys.executable).with_name("st")
# A period whose end is before its start is 422, a rule the schema cannot state.
CONFIG = """
[[operations]]
include-operation-id = ["list_complaints", "complaint_figures_for"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-operation-id = ["get_complaint", "respond_to_complaint"]
parameters = {{ id = {answered} }}

[[operations]]
include-operation-id = "resolve_complaint"
parameters = {{ id = {resolved} }}
"""


async def test_schemathesis_on_the_complaint_endpoints_as_staff(api: Api, tmp_path: Path) -> None:
    team = await make_team()
    answered = await file_direct(api.bot.clock.now(), customer=team.my_customer, openid="o-fuzz")
    resolved = await file_direct(api.bot.clock.now(), customer=team.colleague_customer, openid="o-fuzz-2")
    token = await api.token_for(team.staff[Role.GM])
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(answered=answered.id, resolved=resolved.id))

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
        f"Authorization: Bearer {token}",
        "--include-tag",
        "complaints",
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
    assert "5 selected" in output.decode()
    for complaint, kind in ((answered, EventKind.RESPONDED), (resolved, EventKind.RESOLVED)):
        reached = await ComplaintEvent.filter(complaint_id=complaint.id, kind=kind).exists()
        assert reached, f"no generated request got through to the service: {kind}"
