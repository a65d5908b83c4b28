"""Quiet hours: nothing is pushed to a customer between 21:00 and 08:00 local time.

A push that falls in quiet hours is deferred, never dropped: `next_allowed` gives the moment it
may go, which callers pass to the outbox as `not_before`. "Local" is the dealer's time zone
(settings.tz), which is also the customers' (SPEC §7).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)


def is_quiet(at: datetime, tz: ZoneInfo) -> bool:
    local = at.astimezone(tz).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def next_allowed(at: datetime, tz: ZoneInfo) -> datetime:
    """`at` itself outside quiet hours; otherwise the 08:00 that ends them, in UTC like `at`."""
    if at.tzinfo is None:
        raise ValueError("next_allowed needs a time-zone aware datetime")
    if not is_quiet(at, tz):
        return at
    local = at.astimezone(tz)
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz).astimezone(at.tzinfo)
