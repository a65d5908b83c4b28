"""The admin web app: server-rendered pages for advisors, dispatchers, managers and admins."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the admin pages on `app`."""
