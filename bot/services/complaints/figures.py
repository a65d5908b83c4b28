"""Complaint KPIs for a period and a store (or the whole group), from the complaints and their trail.

Definitions (the dealer's management standard, SPEC §8):
- 投诉抱怨率: complaints filed in the period ÷ customers serviced in the period. Serviced customers
  are the distinct customers with a work order settled in the period; a dealer that imports only
  customers and vehicles has no settlements, and then they are the distinct customers owning a
  vehicle whose `last_service_date` falls in the period (`serviced_source` says which). ≤ 4%.
- 24 小时结案率: of the complaints filed in the period whose 24 hours have run out (or that were
  resolved sooner), the share first resolved within 24 hours of filing.
- 首次响应时长: mean time from filing to the first response, over those responded to.
- Escalations by level: level 1 and level 2 escalations that happened in the period.
- 投诉处理满意度: of the survey answers given in the period, the share scoring 4 or 5. Target ≥ 99%.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.queryset import QuerySet

from bot.models import Complaint, ComplaintEvent, Vehicle, WorkOrder
from bot.models.complaint import EventKind
from bot.services.complaints.errors import InvalidInput
from bot.services.complaints.survey import SATISFIED_FROM

CLOSURE_WINDOW = timedelta(hours=24)
COMPLAINT_RATE_TARGET = 0.04
SATISFACTION_TARGET = 0.99


@dataclass(frozen=True)
class ComplaintFigures:
    store_id: int | None
    start: datetime
    end: datetime
    complaints: int
    serviced_customers: int
    serviced_source: str  # "work_orders" or "vehicles" (see the module docstring)
    complaint_rate: float | None
    closure_eligible: int
    closed_within_24h: int
    closure_rate_24h: float | None
    responded: int
    mean_first_response: timedelta | None
    escalations: dict[int, int]  # level -> how many
    surveyed: int
    satisfied: int
    satisfaction: float | None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def complaint_figures(
    store_id: int | None, start: datetime, end: datetime, now: datetime, tz: ZoneInfo
) -> ComplaintFigures:
    """Figures for complaints filed in [start, end); `store_id` None means every store."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start", "start and end must be time-zone aware")
    if start >= end:
        raise InvalidInput("end", "must be after start")
    store = {"store_id": store_id} if store_id is not None else {}
    filed = await Complaint.filter(created_at__gte=start, created_at__lt=end, **store).values_list(
        "created_at", "first_response_at", "first_resolved_at"
    )
    serviced, source = await _serviced_customers(store_id, start, end, tz)

    eligible = [(c, r) for c, _, r in filed if r is not None or c + CLOSURE_WINDOW <= now]
    closed_in_time = sum(1 for c, r in eligible if r is not None and r - c <= CLOSURE_WINDOW)
    response_times = [first - c for c, first, _ in filed if first is not None]

    events = ComplaintEvent.filter(at__gte=start, at__lt=end)
    if store_id is not None:
        events = events.filter(complaint__store_id=store_id)
    levels = [d["level"] for d in await _details(events.filter(kind=EventKind.ESCALATED))]
    scores = [d["score"] for d in await _details(events.filter(kind=EventKind.SURVEYED))]
    satisfied = sum(1 for score in scores if score >= SATISFIED_FROM)

    return ComplaintFigures(
        store_id=store_id,
        start=start,
        end=end,
        complaints=len(filed),
        serviced_customers=serviced,
        serviced_source=source,
        complaint_rate=_share(len(filed), serviced),
        closure_eligible=len(eligible),
        closed_within_24h=closed_in_time,
        closure_rate_24h=_share(closed_in_time, len(eligible)),
        responded=len(response_times),
        mean_first_response=sum(response_times, timedelta()) / len(response_times)
        if response_times
        else None,
        escalations=dict(sorted(Counter(levels).items())),
        surveyed=len(scores),
        satisfied=satisfied,
        satisfaction=_share(satisfied, len(scores)),
    )


async def _details(events: QuerySet[ComplaintEvent]) -> list[dict[str, Any]]:
    return [event.details for event in await events.only("id", "details")]


async def _serviced_customers(
    store_id: int | None, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[int, str]:
    """Distinct customers with a work order settled in the period; from vehicles when none was."""
    settled = WorkOrder.filter(settlement__settled_at__gte=start, settlement__settled_at__lt=end)
    if store_id is not None:
        settled = settled.filter(store_id=store_id)
    customers = set(await settled.values_list("customer_id", flat=True))
    if customers:
        return len(customers), "work_orders"
    first_day, last_day = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    vehicles = Vehicle.filter(last_service_date__gte=first_day, last_service_date__lte=last_day)
    if store_id is not None:
        vehicles = vehicles.filter(store_id=store_id)
    return len(set(await vehicles.values_list("customer_id", flat=True))), "vehicles"
