"""The JSON API under /api/v1, for the DMS (API key) and for staff tools (staff token)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the /api/v1 routes on `app`."""
