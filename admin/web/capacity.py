"""Store settings for booking: weekly time windows, places per service type, off-peak bonus, and
closed days (managers for their store, GM and admin for every store).

All rules are the capacity service's (bot.services.booking.capacity); this module reads the
forms, explains mistakes in Chinese and shows the bookings on a day being closed, so that staff
can call those customers. Editing windows never moves a booking already made.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, time
from itertools import pairwise
from typing import Any

from aiohttp import web

from admin.access import Permission, capacity_stores
from admin.auth import CURRENT_STAFF, requires
from admin.web.forms import Form
from admin.web.rendering import render
from admin.web.sessions import flash
from admin.web.workshop_errors import explain
from bot.app import CLOCK, SETTINGS
from bot.conversation.validators import parse_when
from bot.models import Appointment, AppointmentStatus, ServiceType, SlotWindow, Store
from bot.services.booking import capacity
from bot.services.booking.capacity import MAX_CAPACITY, WindowSpec
from bot.services.booking.errors import CapacityConfigError

routes = web.RouteTableDef()

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MAX_ROWS = 10  # windows per day on the form
SPARE_ROWS = 2  # empty rows offered below the existing windows
MIN_ROWS = 4
MAX_BONUS = 10_000
CLOCK_TIME = re.compile(r"([01]?[0-9]|2[0-3])[:：]([0-5][0-9])")
CALENDAR_DAY = re.compile(r"(?:[0-9]{4}[-/年])?[0-9]{1,2}[-/月][0-9]{1,2}日?")
ROW_FIELD = re.compile(r"(?:start|end|bonus|cap)_([0-9]+)(?:_[a-z_]+)?")


@dataclass(frozen=True)
class WeekGroup:
    """Weekdays that share the same windows, shown (and edited) together."""

    weekdays: tuple[int, ...]
    windows: tuple[SlotWindow, ...]

    @property
    def label(self) -> str:
        return weekday_label(self.weekdays)


def weekday_label(weekdays: tuple[int, ...]) -> str:
    """周一至周六, 周一、周三, 周日: runs of three or more days collapse into a range."""
    runs: list[list[int]] = []
    for day in weekdays:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAY_NAMES[run[0]]}至{WEEKDAY_NAMES[run[-1]]}")
        else:
            parts.extend(WEEKDAY_NAMES[day] for day in run)
    return "、".join(parts)


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAY_NAMES[day.weekday()]}）"


def places(window: SlotWindow) -> dict[ServiceType, int]:
    return {c.service_type: c.capacity for c in window.capacities}


def week_groups(windows: list[SlotWindow]) -> list[WeekGroup]:
    """Every weekday once, grouped with the days whose windows are the same."""
    by_day: dict[int, list[SlotWindow]] = defaultdict(list)
    for window in windows:
        by_day[window.weekday].append(window)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for day in range(7):
        signature = tuple(
            (w.start_minute, w.end_minute, w.off_peak_bonus, tuple(sorted(places(w).items())))
            for w in by_day[day]
        )
        groups[signature].append(day)
    return [WeekGroup(tuple(days), tuple(by_day[days[0]])) for days in groups.values()]


@routes.get("/capacity", name="capacity")
@requires(Permission.MANAGE_CAPACITY)
async def capacity_home(request: web.Request) -> web.Response:
    """A manager goes straight to their store; GM and admin pick one."""
    stores = await capacity_stores(request[CURRENT_STAFF]).order_by("code")
    if len(stores) == 1:
        raise web.HTTPFound(request.app.router["capacity.store"].url_for(id=str(stores[0].id)))
    counts = Counter(
        await SlotWindow.filter(store_id__in=[s.id for s in stores]).values_list("store_id", flat=True)
    )
    return await render(request, "capacity/stores.html", {"stores": stores, "counts": counts})


@routes.get("/capacity/{id:\\d+}", name="capacity.store")
@requires(Permission.MANAGE_CAPACITY)
async def store_capacity(request: web.Request) -> web.Response:
    return await _overview(request, await _store(request), {}, {})


@routes.get("/capacity/{id:\\d+}/windows", name="capacity.windows")
@requires(Permission.MANAGE_CAPACITY)
async def edit_windows(request: web.Request) -> web.Response:
    """The windows of one weekday (`day`), with the other days that share them ticked."""
    store = await _store(request)
    day = _int(request.query.get("day"), 0) % 7
    groups = week_groups(await capacity.week_of(store.id))
    group = next(g for g in groups if day in g.weekdays)
    values = {f"weekday_{d}": "on" for d in group.weekdays}
    for row, window in enumerate(group.windows):
        values |= {
            f"start_{row}": f"{window.starts:%H:%M}",
            f"end_{row}": f"{window.ends:%H:%M}",
            f"bonus_{row}": str(window.off_peak_bonus or ""),
        }
        values |= {f"cap_{row}_{kind.value}": str(n) for kind, n in places(window).items()}
    return await _windows_page(request, store, values, {}, _rows(len(group.windows)))


@routes.post("/capacity/{id:\\d+}/windows", name="capacity.windows.save")
@requires(Permission.MANAGE_CAPACITY)
async def save_windows(request: web.Request) -> web.Response:
    store = await _store(request)
    form = Form(await request.post())
    weekdays = [day for day in range(7) if form.checkbox(f"weekday_{day}")]
    if not weekdays:
        form.error("weekdays", "请至少选择一天")
    windows = read_windows(form)
    if form.ok:
        try:
            await capacity.set_windows(store.id, weekdays, windows)
        except CapacityConfigError as exc:
            form.error("windows", explain(exc))
        else:
            summary = f"{len(windows)} 个时段" if windows else "不接受预约"
            await flash(
                request, f"已保存{weekday_label(tuple(weekdays))}的预约时段：{summary}。已有预约不受影响。"
            )
            raise web.HTTPSeeOther(request.app.router["capacity.store"].url_for(id=str(store.id)))
    return await _windows_page(
        request, store, form.values, form.errors, _rows(_filled_rows(form)), status=422
    )


def read_windows(form: Form) -> list[WindowSpec]:
    """The filled rows of the window form as specs; problems go to the row's fields."""
    windows: list[tuple[int, WindowSpec]] = []
    for row in range(MAX_ROWS):
        names = [f"start_{row}", f"end_{row}", f"bonus_{row}", *(_cap(row, k) for k in ServiceType)]
        if not any(form.values.get(name) for name in names):
            continue
        starts = _clock_time(form, f"start_{row}", "开始时间")
        ends = _clock_time(form, f"end_{row}", "结束时间")
        counts = {kind: _whole(form, _cap(row, kind), "名额", MAX_CAPACITY) for kind in ServiceType}
        bonus = _whole(form, f"bonus_{row}", "错峰积分", MAX_BONUS)
        if starts is None or ends is None:
            continue
        if ends <= starts:
            form.error(f"end_{row}", "结束时间应晚于开始时间")
        elif not any(counts.values()):
            form.error(_cap(row, ServiceType.FIRST_SERVICE), "该时段至少要有一类服务的名额")
        else:
            windows.append((row, WindowSpec(starts, ends, counts, bonus)))
    windows.sort(key=lambda item: item[1].start_minute)
    for (_, earlier), (row, later) in pairwise(windows):
        if later.start_minute < earlier.end_minute:
            form.error(f"start_{row}", f"与 {earlier.starts:%H:%M}-{earlier.ends:%H:%M} 时段重叠")
    return [spec for _, spec in windows]


def _cap(row: int, kind: ServiceType) -> str:
    return f"cap_{row}_{kind.value}"


def _row_cells(row: int) -> list[tuple[str, str]]:
    """The form fields of one window row, as (name, label), in the table's column order."""
    counts = [(_cap(row, kind), kind.label) for kind in ServiceType]
    return [(f"start_{row}", "开始"), (f"end_{row}", "结束"), *counts, (f"bonus_{row}", "错峰积分")]


def _rows(filled: int) -> int:
    """Rows on the window form: those filled, a couple of empty ones, at least four."""
    return min(MAX_ROWS, max(filled + SPARE_ROWS, MIN_ROWS))


def _clock_time(form: Form, name: str, label: str) -> time | None:
    raw = form.values.get(name, "")
    match = CLOCK_TIME.fullmatch(raw)
    if match is None:
        form.error(name, f"请填写{label}，如 08:30" if not raw else f"{label}格式应为 08:30")
        return None
    return time(int(match[1]), int(match[2]))


def _whole(form: Form, name: str, label: str, high: int) -> int:
    raw = form.values.get(name, "")
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > high:
        form.error(name, f"{label}应为 0 到 {high} 的整数")
        return 0
    return int(raw)


def _filled_rows(form: Form) -> int:
    rows = [
        int(match[1]) for name, value in form.values.items() if value and (match := ROW_FIELD.fullmatch(name))
    ]
    return max(rows, default=-1) + 1


@routes.post("/capacity/{id:\\d+}/closed-days", name="capacity.close")
@requires(Permission.MANAGE_CAPACITY)
async def close_day(request: web.Request) -> web.Response:
    """Close a day; the bookings already on it are listed on the page to be called."""
    store = await _store(request)
    form = Form(await request.post())
    settings, now = request.config_dict[SETTINGS], request.config_dict[CLOCK].now()
    raw = form.text("day", "日期", required=True)
    # a calendar date only: 上周五 or 下周一 would be read as this week's, the wrong day to close
    when = parse_when(raw, now, settings.tz) if CALENDAR_DAY.fullmatch(raw) else None
    if when is None and "day" not in form.errors:
        form.error("day", "请填写今天或以后的具体日期，如 2026-12-01 或 12月1日")
    reason = form.text("reason", "原因", max_length=100)
    if not form.ok or when is None:
        return await _overview(request, store, form.values, form.errors, status=422)
    booked = await capacity.close_day(store.id, when.day, reason)
    message = f"{day_label(when.day)}已设为不接受预约。"
    if booked:
        message += f"该日已有 {len(booked)} 个预约，请联系客户改期（见下方名单）。"
    await flash(request, message, "warning" if booked else "success")
    raise web.HTTPSeeOther(request.app.router["capacity.store"].url_for(id=str(store.id)))


@routes.post("/capacity/{id:\\d+}/closed-days/{day:\\d{4}-\\d{2}-\\d{2}}/reopen", name="capacity.reopen")
@requires(Permission.MANAGE_CAPACITY)
async def reopen_day(request: web.Request) -> web.Response:
    store = await _store(request)
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if await capacity.reopen_day(store.id, day):
        await flash(request, f"{day_label(day)}恢复接受预约。")
    raise web.HTTPSeeOther(request.app.router["capacity.store"].url_for(id=str(store.id)))


async def _store(request: web.Request) -> Store:
    store = await capacity_stores(request[CURRENT_STAFF]).get_or_none(id=int(request.match_info["id"]))
    if store is None:
        raise web.HTTPNotFound()
    return store


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


async def _overview(
    request: web.Request,
    store: Store,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> web.Response:
    today = request.config_dict[CLOCK].now().astimezone(request.config_dict[SETTINGS].tz).date()
    closed = await capacity.closed_days(store.id, today)
    booked = await Appointment.filter(
        store_id=store.id, day__in=[c.day for c in closed], status=AppointmentStatus.BOOKED
    ).prefetch_related("customer", "vehicle", "advisor")
    on_day: dict[date, list[Appointment]] = defaultdict(list)
    for appointment in booked:
        on_day[appointment.day].append(appointment)
    context = {
        "store": store,
        "groups": week_groups(await capacity.week_of(store.id)),
        "services": list(ServiceType),
        "closed": [(c, day_label(c.day), on_day[c.day]) for c in closed],
        "values": values,
        "errors": errors,
        "places": places,
    }
    return await render(request, "capacity/store.html", context, status=status)


async def _windows_page(
    request: web.Request,
    store: Store,
    values: dict[str, str],
    errors: dict[str, str],
    rows: int,
    *,
    status: int = 200,
) -> web.Response:
    context = {
        "store": store,
        "values": values,
        "errors": errors,
        "rows": [_row_cells(row) for row in range(rows)],
        "weekdays": list(enumerate(WEEKDAY_NAMES)),
        "services": list(ServiceType),
        "max_capacity": MAX_CAPACITY,
    }
    return await render(request, "capacity/windows.html", context, status=status)
