"""Prometheus metrics for `/metrics`: what an operator watches on the WeChat endpoint."""

from functools import cache

from prometheus_client import Counter, Histogram

MESSAGES = Counter("bot_messages_total", "WeChat messages handled", ["kind"])
RETRIES = Counter("bot_message_retries_total", "WeChat retries answered from the reply cache")
LATE_REPLIES = Counter("bot_late_replies_total", "Replies that overran the budget and went by the API")
REFUSED = Counter("bot_requests_refused_total", "Requests refused at the endpoint", ["status"])
HANDLE_SECONDS = Histogram(
    "bot_handle_seconds",
    "Time to answer a WeChat message",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 4.5),
)


@cache
def messages_of(kind: str) -> Counter:
    """`MESSAGES` for one kind, looked up once: `labels()` takes a lock and this runs per message."""
    return MESSAGES.labels(kind=kind)
