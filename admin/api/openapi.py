"""The OpenAPI 3.1 document, generated from the registry's operations and their pydantic models.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so the models'
schemas go into `components.schemas` as they are; path and query models become parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from admin.api.errors import ERROR_STATUSES, ErrorBody
from admin.api.registry import Operation

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A DMS API key."},
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, or a staff token from POST /auth/token.",
    },
}


def openapi_document(
    operations: Sequence[Operation], *, title: str, version: str, server_url: str
) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in operations:
        wanted += [(model, "validation") for model in (op.path_model, op.query_model, op.body_model) if model]
        wanted += [(op.response_model, "serialization")] if op.response_model else []
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    parameter_models = {m for op in operations for m in (op.path_model, op.query_model) if m is not None}
    parameters = {model: schemas[_name(refs[(model, "validation")])] for model in parameter_models}

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, parameters)
    for model in parameter_models:
        schemas.pop(_name(refs[(model, "validation")]), None)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in operations)],
    }


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[1]


def _operation(op: Operation, refs: dict[Any, Any], parameters: dict[Any, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"ApiKey": []}, {"Bearer": []}] if op.access is not None else [],
        "parameters": [
            *_parameters(parameters, op.path_model, "path"),
            *_parameters(parameters, op.query_model, "query"),
        ],
        "responses": _responses(op, refs),
    }
    if op.description:
        entry["description"] = op.description
    if op.body_model is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body_model, "validation")]}},
        }
    return entry


def _parameters(
    parameters: dict[Any, Any], model: type[BaseModel] | None, where: str
) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = parameters[model]
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        parameter = {"name": name, "in": where, "required": where == "path" or name in required}
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        prop.pop("title", None)
        found.append(parameter | {"schema": prop})
    return found


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is one that is left out: `X | None` is documented as X."""
    options = prop.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del prop["anyOf"]
        prop.pop("default", None)
        prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    return prop


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in op.statuses:
        if op.csv:
            content = {"text/csv": {"schema": {"type": "string"}}}
        elif op.response_model is None or status == 204:
            responses[str(status)] = {"description": "Done."}
            continue
        else:
            content = {"application/json": {"schema": refs[(op.response_model, "serialization")]}}
        responses[str(status)] = {"description": _SUCCESS.get(status, "OK."), "content": content}
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    for status in op.error_statuses:
        responses[str(status)] = {"description": ERROR_STATUSES[status], "content": error}
    return responses


_SUCCESS = {200: "OK.", 201: "Created."}
