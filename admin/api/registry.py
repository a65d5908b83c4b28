"""The API's route registry: each endpoint declared once, with the pydantic models for its input
and output.

The same declaration mounts the aiohttp route (which validates the path, query and body with
those models before the handler runs, and the handler's answer before it is sent) and produces
the endpoint's entry in the OpenAPI document (openapi.py). The document cannot drift from what
the server does, because there is nothing else for it to be generated from.

A handler is `async def handler(call: Call, [path], [query], [body])`: the validated models it
declared, in that order, after the call context. It returns its response model (or something
the model reads with from_attributes), a Reply for another status, or a CsvDownload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from admin.api.errors import Forbidden, Invalid, Unauthorized
from admin.api.principal import Principal, authenticate
from admin.auth import LoginThrottle
from bot.app import CLOCK, SETTINGS
from bot.settings import Settings

THROTTLE = web.AppKey("api_login_throttle", LoginThrottle)  # type: ignore[type-abstract]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Access:
    """Who may call an endpoint; `label` is what the OpenAPI document tells integrators."""

    label: str
    allows: Callable[[Principal], bool]


@dataclass(frozen=True)
class Call:
    """What a handler gets besides its validated input."""

    caller: Principal | None  # None only on public endpoints
    now: datetime
    client: str
    throttle: LoginThrottle
    settings: Settings  # the dealer's time zone and reply templates, for services that need them

    @property
    def principal(self) -> Principal:
        if self.caller is None:
            raise Unauthorized("This endpoint needs an API key or a staff token.")
        return self.caller


@dataclass(frozen=True)
class Reply:
    """A response with another status than the endpoint's first one (201 Created, 204)."""

    body: object
    status: int


@dataclass(frozen=True)
class CsvDownload:
    filename: str
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]
    tag: str
    access: Access | None
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    statuses: tuple[int, ...] = (200,)
    csv: bool = False
    extra_errors: tuple[int, ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def summary(self) -> str:
        return (self.handler.__doc__ or self.operation_id).strip().split("\n", 1)[0]

    @property
    def description(self) -> str:
        doc = (self.handler.__doc__ or "").strip().split("\n", 1)
        text = doc[1].strip() if len(doc) > 1 else ""
        if self.access is not None:
            text = f"{text}\n\nAllowed: {self.access.label}.".strip()
        return " ".join(line.strip() for line in text.split("\n") if line.strip()) if text else ""

    @property
    def error_statuses(self) -> list[int]:
        statuses = set(self.extra_errors)
        if self.access is not None:
            statuses |= {401, 403}
        if self.path_model is not None:
            statuses.add(404)
        if self.path_model or self.query_model or self.body_model:
            statuses.add(422)
        return sorted(statuses)


@dataclass
class Routes:
    """One resource's endpoints, under its `tag` in the document; the package composes every
    module's `routes`."""

    tag: str
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access | None,
        path_params: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        statuses: tuple[int, ...] = (200,),
        csv: bool = False,
        errors: tuple[int, ...] = (),
    ) -> Callable[[H], H]:
        """Declare an endpoint; `errors` adds statuses beyond those its inputs imply (409, 429)."""

        def register(handler: H) -> H:
            operation = Operation(method, path, handler, self.tag, access, path_params, query, body, response)
            self.operations.append(replace(operation, statuses=statuses, csv=csv, extra_errors=errors))
            return handler

        return register


def mount(app: web.Application, operations: Sequence[Operation]) -> None:
    names = [operation.operation_id for operation in operations]
    if len(set(names)) != len(names):
        raise ValueError(f"operation ids must be unique: {sorted(names)}")
    for operation in operations:
        app.router.add_route(operation.method, operation.path, _endpoint(operation))


def _endpoint(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        now = request.config_dict[CLOCK].now()
        caller = None
        if operation.access is not None:
            caller = await authenticate(request.headers, request.config_dict[SETTINGS].api_keys, now)
            if not operation.access.allows(caller):
                raise Forbidden(f"This endpoint is for: {operation.access.label}.")
        inputs = await _inputs(operation, request)
        call = Call(
            caller, now, request.remote or "", request.config_dict[THROTTLE], request.config_dict[SETTINGS]
        )
        result = await operation.handler(call, *inputs)
        if isinstance(result, CsvDownload):
            return await _stream(request, result)
        status, body = (
            (result.status, result.body) if isinstance(result, Reply) else (operation.statuses[0], result)
        )
        if operation.response_model is None or status == 204:
            return web.Response(status=status)
        model = operation.response_model
        validated = body if isinstance(body, model) else model.model_validate(body, from_attributes=True)
        return web.Response(status=status, text=validated.model_dump_json(), content_type="application/json")

    endpoint.__name__ = operation.operation_id
    return endpoint


async def _inputs(operation: Operation, request: web.Request) -> list[BaseModel]:
    """Path, query and body through their models; every problem reported at once as 422."""
    inputs: list[BaseModel] = []
    problems: dict[str, str] = {}
    sources: list[tuple[type[BaseModel] | None, Mapping[str, str] | bytes]] = [
        (operation.path_model, request.match_info),
        (operation.query_model, request.query),
    ]
    if operation.body_model is not None:
        sources.append((operation.body_model, await request.read()))
    for model, raw in sources:
        if model is None:
            continue
        try:
            if isinstance(raw, bytes):
                inputs.append(model.model_validate_json(raw or b"null"))
            else:
                inputs.append(model.model_validate_strings(dict(raw)))
        except ValidationError as exc:
            problems.update(Invalid.from_pydantic(exc).body.fields)
    if problems:
        raise Invalid("The request is invalid.", problems)
    return inputs


async def _stream(request: web.Request, download: CsvDownload) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{download.filename}"',
        }
    )
    await response.prepare(request)
    async for chunk in download.chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
