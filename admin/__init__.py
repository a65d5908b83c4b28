"""The staff side: the admin web app (admin.web) and the JSON API under /api/v1 (admin.api)."""

from aiohttp.web import Application


def setup(app: Application) -> None:
    """Mount the admin web app and the JSON API on the bot's application."""
    from admin import api, web

    web.setup(app)
    api.setup(app)
