"""The OpenAPI document: served, valid OpenAPI 3.1, complete, and true of the running server.

The last test runs schemathesis (its command line, as CI would) against the live app over real
HTTP on 127.0.0.1 with an API key: generated valid and invalid requests to every operation must
get no 5xx, and every response must match the document (status, content type, body schema).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import jsonschema_rs
import schemathesis

from admin.api import OPERATIONS
from bot.models import InsurancePolicy
from tests import factories
from tests.test_api_support import API_KEY, Api, api_fixture  # noqa: F401

SCHEMATHESIS = Path(sys.executable).with_name("st")
# Per operation; with the coverage phase's own cases this keeps a run near 20 s per backend.
MAX_EXAMPLES = 15
# Rules the schema cannot express, answered 422: an id in a body that names no store/advisor/
# vehicle; an ETA in the past; a stage out of order; a period that ends before it starts.
CONFIG = """
[[operations]]
include-operation-id = [
    "upsert_customer", "upsert_vehicle", "upsert_policy", "create_staff", "change_staff",
    "create_work_order", "set_work_order_eta", "change_work_order_stage", "settle_work_order",
    "complaint_figures_for",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""


async def test_openapi_document_is_served_valid_and_complete(api: Api) -> None:
    answer = await api.call("GET", "/openapi.json", anonymous=True)

    assert answer.status == 200
    document = answer.body
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(op.method, op.path) for op in OPERATIONS}


async def test_document_is_generated_from_the_validating_models(api: Api) -> None:
    """The customer body schema is the model's: its phone pattern is what the server enforces."""
    document = (await api.call("GET", "/openapi.json", anonymous=True)).body
    body = document["paths"]["/customers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    customer_in = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    pattern = customer_in["properties"]["phone"]["pattern"]

    refused = await api.call("POST", "/customers", json={"phone": "138 1234 5678"})

    assert pattern == "^1[3-9][0-9]{9}$" and customer_in["additionalProperties"] is False
    assert refused.status == 422 and "phone" in refused.body["fields"]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api, tmp_path: Path) -> None:
    shop = await factories.store()
    advisor = await factories.staff(shop)
    _, car = await factories.customer_with_car(shop, advisor=advisor)
    await InsurancePolicy.create(
        vehicle=car, policy_no="PDAA2026001", insurer="人保", ends_on=dt.date(2027, 1, 1)
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)

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
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261123",
        "--workers",
        "2",
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
