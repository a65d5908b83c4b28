"""The staff side: the admin web app (admin.web) and the JSON API under /api/v1 (admin.api)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Mount the admin web app and the JSON API on the bot's application."""
    from admin import api
    from admin import web as admin_web

    admin_web.setup(app)
    api.setup(app)
