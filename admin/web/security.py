"""Browser-side protections for the admin pages: CSRF tokens on every form, security headers.

Every state-changing request must carry the session's CSRF token, as the form field `_csrf` or
the `X-CSRF-Token` header; otherwise it is refused with 403 before any handler runs, so a forged
form changes nothing. Pages may only load scripts, styles and images from this server (plus the
WeChat QR code images), and may not be framed.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import get_session

from admin.web.sessions import CSRF

log = logging.getLogger(__name__)

CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "页面已过期或请求来源无效，请刷新页面后重试。"

CONTENT_SECURITY_POLICY = web.AppKey("admin_content_security_policy", str)


@web.middleware
async def csrf_protect(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS:
        expected = (await get_session(request)).get(CSRF)
        given: object = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = (await request.post()).get(CSRF_FIELD)
        if not (
            isinstance(expected, str)
            and isinstance(given, str)
            and hmac.compare_digest(expected.encode(), given.encode())
        ):
            log.warning("csrf refused", extra={"path": request.path, "has_token": given is not None})
            raise web.HTTPForbidden(text=CSRF_REFUSED)
    return await handler(request)


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
