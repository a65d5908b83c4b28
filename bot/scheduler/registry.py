"""The job registry behind `python -m bot jobs run NAME` and the scheduler process.

A job is an async function of its dependencies. It reads due rows from the database and claims
them with a conditional update, so a re-run or a second runner never does anything twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.wechat.client import WeChatClient


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    clock: Clock
    wechat: WeChatClient


JobFunction = Callable[[JobContext], Awaitable[str]]

JOB_NAMES = (
    "escalate-complaints",
    "maintenance-reminders",
    "churn-recall",
    "insurance-renewals",
    "warranty-offers",
    "appointment-reminders",
    "send-outbox",
)

_registry: dict[str, JobFunction] = {}


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register a job function under one of the names in SPEC §9."""
    if name not in JOB_NAMES:
        raise ValueError(f"unknown job name {name!r}")

    def register(fn: JobFunction) -> JobFunction:
        _registry[name] = fn
        return fn

    return register


def registered_jobs() -> dict[str, JobFunction]:
    import bot.scheduler.jobs  # noqa: F401  (registers the jobs)

    return dict(_registry)
