"""Work orders for advisors: the open ones with their next-stage buttons, one order's page (stage
timeline with time and author, ETA, 增项 and the customer's answers), and 增项 still unanswered.

Advisors see their customers' orders and those they handle, managers their store's, GM and admin
all (admin/access.py). Stage rules, the 待交车 push and the 增项 push are the work-order services';
a refusal is explained in Chinese and changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web
from yarl import URL

from admin.access import Permission, visible_extra_items, visible_work_orders
from admin.auth import CURRENT_STAFF, requires
from admin.web.forms import Form
from admin.web.pagination import paginate
from admin.web.rendering import render
from admin.web.sessions import flash
from admin.web.workshop_errors import explain
from bot.app import CLOCK, SETTINGS
from bot.conversation.validators import parse_when
from bot.models import ChangeSource, ExtraItemStatus, Settlement, WorkOrder, WorkStage
from bot.services.customer_notices import Notifier
from bot.services.workorders import extras, orders
from bot.services.workorders.errors import WorkOrderError
from bot.services.workorders.orders import Author, allowed_next

routes = web.RouteTableDef()

MONEY = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")
ITEM_STATUS = {
    ExtraItemStatus.PENDING: ("待客户确认", "warn"),
    ExtraItemStatus.APPROVED: ("客户同意", "ok"),
    ExtraItemStatus.DECLINED: ("客户不同意", "danger"),
}
VIEWS = {"open": "进行中", "closed": "已交车"}


@routes.get("/work-orders", name="workorders")
@requires(Permission.VIEW_WORKSHOP)
async def order_list(request: web.Request) -> web.Response:
    """Open orders (or delivered ones with view=closed), newest first."""
    me = request[CURRENT_STAFF]
    view = request.query.get("view") if request.query.get("view") in VIEWS else "open"
    shown = visible_work_orders(me).filter(closed_at__isnull=view == "open")
    page = await paginate(request, shown.prefetch_related("vehicle", "customer", "advisor"))
    pending = (
        await visible_extra_items(me)
        .filter(status=ExtraItemStatus.PENDING)
        .values_list("work_order_id", flat=True)
    )
    context = {
        "page": page,
        "view": view,
        "pending": Counter(pending),
        "pending_total": len(pending),
        "next_stages": {order.id: allowed_next(order.stage) for order in page.items},
        "here": str(request.rel_url),
    }
    return await render(request, "workorders/list.html", context)


@routes.get("/work-orders/pending-items", name="workorders.pending")
@requires(Permission.VIEW_WORKSHOP)
async def pending_items(request: web.Request) -> web.Response:
    """增项 the customers have not answered yet, longest waiting first."""
    items = (
        await visible_extra_items(request[CURRENT_STAFF])
        .filter(status=ExtraItemStatus.PENDING)
        .order_by("added_at", "id")
        .prefetch_related("work_order__vehicle", "work_order__customer", "work_order__advisor")
    )
    now = request.config_dict[CLOCK].now()
    context = {"items": items, "waited": {item.id: waited(now - item.added_at) for item in items}}
    return await render(request, "workorders/pending.html", context)


def waited(delta: timedelta) -> tuple[str, str]:
    """How long a customer has left a 增项 unanswered, and the badge kind (red from an hour)."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "不到 1 分钟", "warn"
    if minutes < 60:
        return f"{minutes} 分钟", "warn"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} 小时 {minutes} 分钟" if minutes else f"{hours} 小时", "danger"


@routes.get("/work-orders/{id:\\d+}", name="workorders.detail")
@requires(Permission.VIEW_WORKSHOP)
async def order_detail(request: web.Request) -> web.Response:
    return await _detail(request, await _order(request), {}, {})


@routes.post("/work-orders/{id:\\d+}/stage", name="workorders.stage")
@requires(Permission.HANDLE_WORKSHOP)
async def move_stage(request: web.Request) -> web.Response:
    order = await _order(request)
    form = Form(await request.post())
    back = _back(request, form, order)
    stage = form.choice("stage", "阶段", [stage.value for stage in WorkStage])
    if stage is None:
        await flash(request, f"未变更：{form.errors['stage']}", "error")
        raise web.HTTPSeeOther(back)
    try:
        moved = await orders.change_stage(
            order.id,
            WorkStage(stage),
            author=Author.staff(request[CURRENT_STAFF].id),
            now=request.config_dict[CLOCK].now(),
            notifier=_notifier(request),
        )
    except WorkOrderError as exc:
        await flash(request, f"未变更：{explain(exc)}", "error")
    else:
        note = "，已通知客户提车" if moved.order.stage is WorkStage.READY else ""
        await flash(request, f"工单 {order.number} 已变更为「{moved.order.stage.label}」{note}。")
    raise web.HTTPSeeOther(back)


@routes.post("/work-orders/{id:\\d+}/eta", name="workorders.eta")
@requires(Permission.HANDLE_WORKSHOP)
async def set_eta(request: web.Request) -> web.Response:
    order = await _order(request)
    form = Form(await request.post())
    eta = _moment(request, form, "eta", "预计交车时间")
    if eta is not None:
        try:
            await orders.set_eta(order.id, eta)
        except WorkOrderError as exc:
            form.error("eta", "预计交车时间不能早于接车时间" if exc.code == "invalid_value" else explain(exc))
        else:
            await flash(request, f"预计交车时间已设为 {_local(request, eta):%m月%d日 %H:%M}。")
            raise web.HTTPSeeOther(_detail_url(request, order))
    return await _detail(request, order, form.values, form.errors, status=422)


@routes.post("/work-orders/{id:\\d+}/extra-items", name="workorders.extra")
@requires(Permission.HANDLE_WORKSHOP)
async def add_extra(request: web.Request) -> web.Response:
    """Record a 增项 and push it to the customer for their answer in chat."""
    order = await _order(request)
    form = Form(await request.post())
    description = form.text("description", "增项内容", required=True, max_length=200)
    parts = _money(form, "parts_price", "配件费")
    labour = _money(form, "labour_price", "工时费")
    if form.ok and parts is not None and labour is not None:
        try:
            item = await extras.add_extra_item(
                order.id,
                description=description,
                parts_price=parts,
                labour_price=labour,
                author=Author.staff(request[CURRENT_STAFF].id),
                now=request.config_dict[CLOCK].now(),
                notifier=_notifier(request),
            )
        except WorkOrderError as exc:
            form.error("description", explain(exc))
        else:
            await flash(request, f"已添加增项「{item.description}」（¥{item.total:.2f}），已推送给客户确认。")
            raise web.HTTPSeeOther(_detail_url(request, order))
    return await _detail(request, order, form.values, form.errors, status=422)


def _money(form: Form, name: str, label: str) -> Decimal | None:
    raw = form.values.get(name, "").removeprefix("¥").strip()
    if not raw:
        form.error(name, f"请填写{label}（元），没有请填 0")
        return None
    if MONEY.fullmatch(raw) is None:
        form.error(name, f"{label}应为金额（元），最多两位小数，如 480 或 35.50")
        return None
    return Decimal(raw)


def _moment(request: web.Request, form: Form, name: str, label: str) -> datetime | None:
    """A local date and time typed as 17:30, 明天上午10点, 11月25日 10:00 or 2026-11-25 10:00."""
    raw = form.text(name, label, required=True, max_length=40)
    if not raw:
        return None
    tz = request.config_dict[SETTINGS].tz
    when = parse_when(raw, request.config_dict[CLOCK].now(), tz)
    if when is None or when.time is None:
        form.error(name, f"{label}应为以后的日期和时间，如 17:30、明天上午10点、11月25日 10:00")
        return None
    return datetime.combine(when.day, when.time, tzinfo=tz)


def _notifier(request: web.Request) -> Notifier:
    return Notifier.from_settings(request.config_dict[SETTINGS])


def _local(request: web.Request, moment: datetime) -> datetime:
    return moment.astimezone(request.config_dict[SETTINGS].tz)


async def _order(request: web.Request) -> WorkOrder:
    order = await visible_work_orders(request[CURRENT_STAFF]).get_or_none(id=int(request.match_info["id"]))
    if order is None:
        raise web.HTTPNotFound()
    return order


def _detail_url(request: web.Request, order: WorkOrder) -> str:
    return str(request.app.router["workorders.detail"].url_for(id=str(order.id)))


def _back(request: web.Request, form: Form, order: WorkOrder) -> str:
    """Back to the page the button was on: a work-order page, else the order's own page."""
    back = URL(form.values.get("next", ""))
    pages = str(request.app.router["workorders"].url_for())
    if back.is_absolute() or not back.path.startswith(pages):
        return _detail_url(request, order)
    return str(back)


async def _detail(
    request: web.Request,
    order: WorkOrder,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> web.Response:
    await order.fetch_related("vehicle", "customer", "store", "advisor", "appointment")
    eta = order.eta
    context: dict[str, Any] = {
        "order": order,
        "stages": list(WorkStage),
        "next_stages": allowed_next(order.stage),
        "timeline": await orders.timeline(order.id),
        "items": await order.extra_items.all().order_by("added_at", "id").prefetch_related("staff"),
        "item_status": ITEM_STATUS,
        "settlement": await Settlement.get_or_none(work_order_id=order.id),
        "dms": ChangeSource.DMS,
        "values": {"eta": f"{_local(request, eta):%Y-%m-%d %H:%M}" if eta else "", **values},
        "errors": errors,
    }
    return await render(request, "workorders/detail.html", context, status=status)
