"""The OpenAPI document: served, valid OpenAPI 3.1, complete, and true of the running server.

The last test runs schemathesis (its command line, as CI would) against the live app over real
HTTP on 127.0.0.1, once over every operation: generated valid and invalid requests must get no
5xx, and every response must match the document (status, content type, body schema). The DMS's
API key calls wherever it may, a GM's staff token where it may not (the complaints'), and the
operations on one record act on real ones in every area (tests/test_api_schema_support.py), so
generated requests get through to the services, as the last assertions check.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema_rs
import schemathesis

from admin.api import OPERATIONS
from bot.models import ComplaintEvent, StageChange, WorkStage
from bot.models.complaint import EventKind
from tests.test_api_schema_support import run_schemathesis, seed_every_area
from tests.test_api_support import Api, api_fixture  # noqa: F401


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
    seeded = await seed_every_area(api)

    output = await run_schemathesis(api, seeded, tmp_path)

    assert f"{len(OPERATIONS)} selected" in output
    for complaint, kind in ((seeded.answered, EventKind.RESPONDED), (seeded.resolved, EventKind.RESOLVED)):
        reached = await ComplaintEvent.filter(complaint_id=complaint.id, kind=kind).exists()
        assert reached, f"no generated request got through to the complaint service: {kind}"
    moved = await StageChange.filter(work_order_id=seeded.open_order.id).exclude(to_stage=WorkStage.RECEIVED)
    assert moved, "no generated request got through to the stage service"
