"""The bot's routers in priority order: the first that matches a message answers it."""

from bot.conversation.router import Router, Routes
from bot.handlers import advisor, binding, booking, common, complaint, progress, subscription

ROUTERS: tuple[Router, ...] = (
    subscription.router,
    binding.router,
    advisor.router,
    complaint.router,
    booking.router,
    progress.router,
    common.router,
)


def build_routes(*extra: Router) -> Routes:
    """All routes; `extra` routers go first (tests use them to add slow or special handlers)."""
    return Routes([*extra, *ROUTERS])
