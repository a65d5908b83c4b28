"""Browser-side protections for the admin pages: CSRF tokens on every form, security headers.

Every state-changing request must carry the session's CSRF token, as the `X-CSRF-Token` header
or the form field `_csrf`; otherwise it is refused with 403 before any handler runs, so a forged
form changes nothing. In a multipart form (a file upload, which may be far larger than a form
the app reads into memory) `_csrf` must be the first field: only that field is read here, and
the handler streams the rest (request.multipart(), or request.post() for small forms). Pages
may only load scripts, styles and images from this server (plus the WeChat QR code images), and
may not be framed.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler
from aiohttp_session import get_session

from admin.web.sessions import CSRF

log = logging.getLogger(__name__)

CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN_BYTES = 128  # a token is 43 characters
CSRF_REFUSED = "页面已过期或请求来源无效，请刷新页面后重试。"

CONTENT_SECURITY_POLICY = web.AppKey("admin_content_security_policy", str)


@web.middleware
async def csrf_protect(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS:
        expected = (await get_session(request)).get(CSRF)
        given = await _submitted_token(request)
        if not (
            isinstance(expected, str)
            and isinstance(given, str)
            and hmac.compare_digest(expected.encode(), given.encode())
        ):
            log.warning("csrf refused", extra={"path": request.path, "has_token": given is not None})
            raise web.HTTPForbidden(text=CSRF_REFUSED)
    return await handler(request)


async def _submitted_token(request: web.Request) -> object:
    given: object = request.headers.get(CSRF_HEADER)
    if given is not None:
        return given
    if request.content_type == "application/x-www-form-urlencoded":
        return (await request.post()).get(CSRF_FIELD)
    if request.content_type == "multipart/form-data":
        return await _first_field_token(request)
    return None


async def _first_field_token(request: web.Request) -> str | None:
    """The token in the multipart body's first field, read to its end so the handler's reader
    starts at the next field; None if the first field is not `_csrf` or is not token-sized."""
    try:
        part = await (await request.multipart()).next()
        if not isinstance(part, BodyPartReader) or part.name != CSRF_FIELD or part.filename is not None:
            return None
        token = bytearray()
        while chunk := await part.read_chunk(MAX_TOKEN_BYTES):
            token += chunk
            if len(token) > MAX_TOKEN_BYTES:
                return None
    except ValueError:  # not multipart after all: no boundary, broken framing
        return None
    return token.decode("utf-8", errors="replace")


def content_security_policy(image_url: str) -> str:
    """The page policy: everything from this server; images also from where QR codes come from."""
    parts = urlsplit(image_url)
    images = f"{parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {images}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: sent with every admin response, error pages and redirects included."""
    response.headers["Content-Security-Policy"] = request.config_dict[CONTENT_SECURITY_POLICY]
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.content_type == "text/html":
        response.headers["Cache-Control"] = "no-store"  # pages carry personal information
