"""One error body for every failure of the API: {"code", "message", "fields"}.

Handlers raise ApiError; the middleware also turns aiohttp's own errors (unknown path, method
not allowed, body too large) and unexpected exceptions into the same shape, so a client parses
one format whatever went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    model_config = ConfigDict(title="Error")

    code: str = Field(description="Machine-readable, e.g. validation_error, not_found, conflict.")
    message: str
    fields: dict[str, str] = Field(
        default_factory=dict, description="Field (dotted path) -> what is wrong with it."
    )


# The status codes the API documents, with the description each gets in the OpenAPI document.
ERROR_STATUSES: Mapping[int, str] = {
    401: "No valid API key or staff token.",
    403: "The staff member's role may not use this endpoint.",
    404: "No such record, or not one the caller may see.",
    409: "Conflicts with a stored record.",
    422: "Invalid input; `fields` says which and why.",
    429: "Too many failed logins; try again later.",
}


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.body = ErrorBody(code=self.code, message=message, fields=dict(fields or {}))


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Invalid(ApiError):
    status, code = 422, "validation_error"

    @classmethod
    def from_pydantic(cls, exc: ValidationError) -> Invalid:
        """Field paths as the client wrote them: "phone", "vehicles.0.plate"; "body" for the whole."""
        fields: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            path = ".".join(str(part) for part in error["loc"]) or "body"
            fields.setdefault(path, error["msg"])
        return cls("The request is invalid.", fields)


class TooManyAttempts(ApiError):
    status, code = 429, "too_many_attempts"


def error_response(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.json_response(body.model_dump(mode="json"), status=status, headers=headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.body)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: value for name, value in exc.headers.items() if name.lower() == "allow"}
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, ErrorBody(code=code, message=exc.reason), headers)
    except Exception:
        log.exception("API request failed", extra={"path": request.path, "method": request.method})
        return error_response(500, ErrorBody(code="internal_error", message="Internal server error."))
