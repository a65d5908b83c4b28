"""Complaints (投诉) for staff: an advisor's open complaints with their SLA countdown, the complaint
list, the managers' escalation board with the period's figures, and one complaint's page where it
is answered, noted, resolved and reassigned.

The rules are the complaint services' (bot.services.complaints): every query narrows to what the
viewer may see, so another advisor's complaint answers 404 like a missing one, and every action
is checked again by the service. Forms post, then redirect (303) back to the complaint, so a
refresh never sends a response twice. Deadlines are coloured here from the injected clock (green,
amber under 6 h, red under 2 h or overdue); complaints.js only counts them down between loads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from aiohttp import web

from admin.access import ROLE_LABELS, Permission, allows, is_group_wide, visible_staff, visible_stores
from admin.auth import CURRENT_STAFF, Handler, requires
from admin.web.forms import Form
from admin.web.pagination import Page
from admin.web.rendering import render
from admin.web.sessions import flash
from bot.app import CLOCK, SETTINGS
from bot.conversation.texts import Texts
from bot.models import Complaint, ComplaintPhoto, Role, Staff
from bot.models.complaint import CAUSE_LABELS, OPEN_STATUSES, ComplaintCategory, ComplaintStatus
from bot.services import media
from bot.services.complaints import assignment, handling, queries
from bot.services.complaints.assignment import ASSIGNABLE_ROLES, MAX_REASON_LENGTH
from bot.services.complaints.errors import (
    ComplaintError,
    ComplaintNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from bot.services.complaints.figures import (
    COMPLAINT_RATE_TARGET,
    SATISFACTION_TARGET,
    ComplaintFigures,
    complaint_figures,
)
from bot.services.complaints.intake import MAX_TEXT_LENGTH
from bot.services.complaints.notices import Notices
from bot.services.complaints.permissions import can_handle, visible_complaints
from bot.services.complaints.queries import ComplaintFilter
from bot.services.complaints.sla import Deadline, Urgency

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

AMBER_UNDER = timedelta(hours=6)
RED_UNDER = timedelta(hours=2)
PER_PAGE = 20
# free text may span lines, but no other control characters (a NUL would fail in PostgreSQL)
TEXT_PATTERN = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*"
ACTIVE = "active"  # the list's status filter for "open or in progress"
STATUS_FILTERS = {ACTIVE: OPEN_STATUSES, **{status.value: (status,) for status in ComplaintStatus}}
PHOTO_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
STATE_REFUSED = "该投诉当前状态不允许此操作（可能已解决或已结案），请查看最新状态。"
CHANGED_MEANWHILE = "该投诉刚被其他人修改，请查看最新状态后重试。"
# what the services' InvalidInput fields are called on the forms, with their wording
INPUT_REFUSED = {"to_staff_id": ("to", "只能转派给本店在职的服务顾问或经理，且不能是当前负责人")}
MAX_PAGE_NUMBER = 100_000
MAX_ID = 2**31 - 1  # the databases' integer columns
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


# --- deadlines as the pages show them -------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    """A deadline on a page: `seconds` left when rendered (negative once overdue), a tone for
    its colour (met, ok, warn, danger) and its text (none once met: the page names what was met);
    complaints.js counts `seconds` down."""

    seconds: int
    tone: str
    text: str


def countdown(deadline: Deadline) -> Countdown:
    if deadline.urgency is Urgency.MET:
        return Countdown(0, "met", "")
    seconds = int(deadline.remaining.total_seconds())
    return Countdown(seconds, tone(deadline.remaining), countdown_text(seconds))


def tone(remaining: timedelta) -> str:
    """Green with more than 6 hours left, amber from 6 hours, red under 2 hours or overdue."""
    if remaining < RED_UNDER:
        return "danger"
    return "warn" if remaining <= AMBER_UNDER else "ok"


def countdown_text(seconds: int) -> str:
    """The same wording complaints.js writes: 剩 3小时05分 / 超时 1天2小时."""
    return f"{'剩' if seconds > 0 else '超时'} {duration_text(timedelta(seconds=abs(seconds)))}"


def duration_text(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes:02d}分"
    return f"{minutes}分钟" if minutes else "不到1分钟"


TEMPLATE_HELPERS = {
    "countdown": countdown,
    "duration": duration_text,
    "cause_labels": {cause.value: label for cause, label in CAUSE_LABELS.items()},
    "category_labels": {category.value: category.label for category in ComplaintCategory},
    "sla_thresholds": {"amber": int(AMBER_UNDER.total_seconds()), "red": int(RED_UNDER.total_seconds())},
}


async def _render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    return await render(request, template, {**TEMPLATE_HELPERS, **context}, status=status)


# --- lists ------------------------------------------------------------------------------------


@routes.get("/complaints", name="complaints")
@requires(Permission.VIEW_COMPLAINTS)
async def complaints_home(request: web.Request) -> NoReturn:
    """Managers land on the escalation board, advisors on their open complaints."""
    board = allows(request[CURRENT_STAFF], Permission.SUPERVISE_COMPLAINTS)
    raise web.HTTPSeeOther(request.app.router["complaints.board" if board else "complaints.mine"].url_for())


@routes.get("/complaints/mine", name="complaints.mine")
@requires(Permission.VIEW_COMPLAINTS)
async def my_complaints(request: web.Request) -> web.Response:
    rows = await queries.my_open_complaints(request[CURRENT_STAFF], _now(request))
    return await _render(request, "complaints/mine.html", {"rows": rows, "tab": "mine"})


@routes.get("/complaints/list", name="complaints.list")
@requires(Permission.VIEW_COMPLAINTS)
async def complaint_list(request: web.Request) -> web.Response:
    me, now = request[CURRENT_STAFF], _now(request)
    form = Form(request.query)
    stores = await _store_options(me)
    assignees = await _assignee_options(me)
    filters = _read_filters(form, _tz(request), stores, assignees)
    number = max(_page_number(request.query.get("page")), 1)
    found = await queries.list_complaints(me, filters, now, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    pages = max(1, -(-found.total // PER_PAGE))
    if number > pages:  # past the end (the list shrank): show the last page
        number = pages
        found = await queries.list_complaints(me, filters, now, limit=PER_PAGE, offset=(pages - 1) * PER_PAGE)
    page = Page[Any](items=found.rows, number=number, pages=pages, total=found.total, url=request.rel_url)
    context = {
        "page": page,
        "values": form.values,
        "errors": form.errors,
        "store_options": stores,
        "assignee_options": assignees,
        "tab": "list",
    }
    return await _render(request, "complaints/list.html", context)


def _read_filters(
    form: Form, tz: ZoneInfo, stores: list[tuple[str, str]], assignees: list[tuple[str, str]]
) -> ComplaintFilter:
    """The list's filters from the query string; a bad one is reported and left out."""
    status = form.choice("status", "状态", STATUS_FILTERS, required=False)
    store = form.choice("store", "门店", [value for value, _ in stores], required=False)
    assignee = form.choice("assignee", "负责人", [value for value, _ in assignees], required=False)
    escalated = form.choice("escalated", "升级", ("yes", "no"), required=False)
    start, end = _span(*_days(form), tz)
    return ComplaintFilter(
        statuses=STATUS_FILTERS[status] if status else (),
        store_id=int(store) if store else None,
        assignee_id=int(assignee) if assignee else None,
        escalated=None if escalated is None else escalated == "yes",
        created_from=start,
        created_to=end,
    )


async def _store_options(me: Staff) -> list[tuple[str, str]]:
    """Stores to filter by: only group-wide staff see more than one."""
    if not is_group_wide(me):
        return []
    return [(str(store.id), store.name) for store in await visible_stores(me).order_by("code")]


async def _assignee_options(me: Staff) -> list[tuple[str, str]]:
    """Whom a supervisor may filter by: the staff they may list who can hold complaints."""
    if not allows(me, Permission.SUPERVISE_COMPLAINTS):
        return []
    staff = await visible_staff(me).filter(role__in=list(ASSIGNABLE_ROLES)).order_by("store_id", "name", "id")
    return [(str(member.id), member.name + ("" if member.active else "（已停用）")) for member in staff]


def _days(form: Form) -> tuple[date | None, date | None]:
    """The local days from..to (inclusive) the form asks for; a bad one is reported, left out."""
    first, last = _date(form, "from", "开始日期"), _date(form, "to", "结束日期")
    if first and last and last < first:
        form.error("to", "结束日期不能早于开始日期")
        return None, None
    return first, last


def _span(first: date | None, last: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """Local days as [start, end) instants; a missing day leaves that end open."""
    start = _local_midnight(first, tz) if first else None
    end = _local_midnight(last + timedelta(days=1), tz) if last else None
    return start, end


def _date(form: Form, name: str, label: str) -> date | None:
    raw = form.values.get(name, "")
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        form.error(name, f"{label}格式应为 年-月-日")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        form.error(name, f"{label}应在 {FIRST_DAY.year} 年到 {LAST_DAY.year} 年之间")
        return None
    return day


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


# --- the managers' board ----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure on the board; `meter` is (value, max, low, high, optimum) for its bar."""

    label: str
    value: str
    detail: str
    target: str = ""
    met: bool | None = None
    meter: tuple[float, float, float, float, float] | None = None
    bar: str = ""  # a class for the bar: "count" draws a plain count, not a good/bad scale


@routes.get("/complaints/board", name="complaints.board")
@requires(Permission.SUPERVISE_COMPLAINTS)
async def complaint_board(request: web.Request) -> web.Response:
    me, now, tz = request[CURRENT_STAFF], _now(request), _tz(request)
    form = Form(request.query)
    stores = await _store_options(me)
    store_id = _board_store(me, form.choice("store", "门店", [value for value, _ in stores], required=False))
    first, last = _days(form)  # by default this month so far
    last = last or max(now.astimezone(tz).date(), first or date.min)
    first = first or last.replace(day=1)
    for name, day in (("from", first), ("to", last)):
        form.values[name] = form.values.get(name) or day.isoformat()
    start, end = _span(first, last, tz)
    assert start is not None and end is not None
    board = [
        row for row in await queries.escalation_board(me, now) if store_id is None or row.store_id == store_id
    ]
    figures = await complaint_figures(store_id, start, end, now, tz)
    context = {
        "board": board,
        "figures": figure_lines(figures),
        "values": form.values,
        "errors": form.errors,
        "store_options": stores,
        "store_name": dict(stores).get(str(store_id), "全部门店") if stores else _own_store_name(me),
        "period": (first, last),
        "tab": "board",
    }
    return await _render(request, "complaints/board.html", context)


def _board_store(me: Staff, chosen: str | None) -> int | None:
    """Group-wide staff pick a store (none: all stores); a manager's board is their store's."""
    if is_group_wide(me):
        return int(chosen) if chosen else None
    store_id: int | None = me.store_id  # type: ignore[attr-defined]
    if store_id is None:
        raise web.HTTPForbidden()  # a store role without a store: no figures to show
    return store_id


def _own_store_name(me: Staff) -> str:
    return me.store.name if me.store is not None else ""


def figure_lines(f: ComplaintFigures) -> list[Figure]:
    """The figures with their targets (SPEC §8: 投诉抱怨率 ≤ 4%, 投诉处理满意度 ≥ 99%)."""
    source = "按结算工单" if f.serviced_source == "work_orders" else "按车辆最近保养日期"
    most = max(f.escalations.values(), default=0) or 1
    return [
        Figure("投诉数", str(f.complaints), f"期间服务客户 {f.serviced_customers} 位（{source}）"),
        Figure(
            "投诉抱怨率",
            _percent(f.complaint_rate),
            f"{f.complaints} / {f.serviced_customers}"
            if f.serviced_customers
            else "期间无服务客户，无法计算",
            f"≤ {COMPLAINT_RATE_TARGET:.0%}",
            None if f.complaint_rate is None else f.complaint_rate <= COMPLAINT_RATE_TARGET,
            None
            if f.complaint_rate is None
            else (min(f.complaint_rate, 0.1), 0.1, COMPLAINT_RATE_TARGET, COMPLAINT_RATE_TARGET, 0.0),
        ),
        Figure(
            "24 小时结案率",
            _percent(f.closure_rate_24h),
            f"{f.closed_within_24h} / {f.closure_eligible} 件（已满 24 小时或已解决）",
            meter=None if f.closure_rate_24h is None else (f.closure_rate_24h, 1.0, 0.0, 0.0, 1.0),
        ),
        Figure(
            "平均首次响应时长",
            duration_text(f.mean_first_response) if f.mean_first_response is not None else "—",
            f"{f.responded} 件已响应",
        ),
        *(
            Figure(
                f"{level} 级升级",
                str(f.escalations.get(level, 0)),
                "期间发生的升级次数",
                meter=(f.escalations.get(level, 0), most, most, most, 0.0),
                bar="count",
            )
            for level in (1, 2)
        ),
        Figure(
            "投诉处理满意度",
            _percent(f.satisfaction),
            f"{f.satisfied} / {f.surveyed} 位评价 4-5 分",
            f"≥ {SATISFACTION_TARGET:.0%}",
            None if f.satisfaction is None else f.satisfaction >= SATISFACTION_TARGET,
            None
            if f.satisfaction is None
            else (f.satisfaction, 1.0, SATISFACTION_TARGET, SATISFACTION_TARGET, 1.0),
        ),
    ]


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


# --- one complaint ----------------------------------------------------------------------------


@routes.get("/complaints/{id:\\d+}", name="complaints.detail")
@requires(Permission.VIEW_COMPLAINTS)
async def complaint_page(request: web.Request) -> web.Response:
    return await _detail_page(request, Form({}))


async def _detail_page(request: web.Request, form: Form, *, status: int = 200) -> web.Response:
    me, now = request[CURRENT_STAFF], _now(request)
    complaint = await _visible(request)
    detail = await queries.complaint_detail(me, complaint.id, now)
    handles = can_handle(me, complaint)
    candidates = await queries.reassign_candidates(me, complaint.id)
    context = {
        "complaint": detail,
        "names": await _staff_names(event.details for event in detail.events),
        "can_answer": handles and complaint.status.is_open,
        "can_note": handles,
        "reassign_options": [(str(s.id), f"{s.name}（{ROLE_LABELS[Role(s.role)]}）") for s in candidates],
        "values": form.values,
        "errors": form.errors,
        "max_text": MAX_TEXT_LENGTH,
        "max_reason": MAX_REASON_LENGTH,
        "tab": "",
    }
    return await _render(request, "complaints/detail.html", context, status=status)


async def _staff_names(details: Iterable[dict[str, Any]]) -> dict[int, str]:
    """Names of the staff the trail's details mention by id (escalated to, reassigned from)."""
    ids: set[int] = set()
    for entry in details:
        for key in ("to", "previous"):
            value = entry.get(key)
            ids.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int))
    return dict(await Staff.filter(id__in=ids).values_list("id", "name")) if ids else {}


Action = Callable[[Staff, datetime, int], Awaitable[object]]  # the service call: by whom, when, on which
ReadAction = Callable[[web.Request, Form], Action]  # reads a posted form into its action


def _acting(done: str) -> Callable[[ReadAction], Handler]:
    """The handler of a form that acts on the complaint in the URL: the decorated function reads
    the posted form and returns the service call to make, which _act runs; `done` says it worked."""

    def decorate(read: ReadAction) -> Handler:
        @functools.wraps(read)
        async def handler(request: web.Request) -> web.Response:
            form = Form(await request.post())
            return await _act(request, form, read(request, form), done)

        return handler

    return decorate


@routes.post("/complaints/{id:\\d+}/respond", name="complaints.respond")
@requires(Permission.VIEW_COMPLAINTS)
@_acting("已发送回复，客户将在微信中收到。")
def respond(request: web.Request, form: Form) -> Action:
    text = _text(form, "text", "回复内容")
    return lambda me, now, complaint_id: handling.respond(complaint_id, me, text, _notices(request), now)


@routes.post("/complaints/{id:\\d+}/note", name="complaints.note")
@requires(Permission.VIEW_COMPLAINTS)
@_acting("已添加内部备注（客户看不到）。")
def add_note(request: web.Request, form: Form) -> Action:
    text = _text(form, "note", "备注内容")
    return lambda me, now, complaint_id: handling.add_note(complaint_id, me, text, now)


@routes.post("/complaints/{id:\\d+}/resolve", name="complaints.resolve")
@requires(Permission.VIEW_COMPLAINTS)
@_acting("已标记为解决，客户将收到处理结果和满意度评价。")
def resolve(request: web.Request, form: Form) -> Action:
    resolution = _text(form, "resolution", "处理结果")
    cause = form.choice("cause", "原因分类", [cause.value for cause in CAUSE_LABELS])
    return lambda me, now, complaint_id: handling.resolve(
        complaint_id, me, resolution, cause or "", _notices(request), now
    )


@routes.post("/complaints/{id:\\d+}/reassign", name="complaints.reassign")
@requires(Permission.SUPERVISE_COMPLAINTS)
@_acting("已转派，新的负责人会收到微信通知。")
def reassign(request: web.Request, form: Form) -> Action:
    chosen = form.values.get("to", "")
    if not chosen.isdigit():
        form.error("to", "请选择新的负责人")
    reason = form.text("reason", "转派原因", max_length=MAX_REASON_LENGTH, pattern=TEXT_PATTERN)
    return lambda me, now, complaint_id: assignment.reassign(
        complaint_id, int(chosen), me, _notices(request), now, reason=reason
    )


def _text(form: Form, name: str, label: str) -> str:
    return form.text(
        name, label, required=True, max_length=MAX_TEXT_LENGTH, pattern=TEXT_PATTERN, hint="不能包含控制字符"
    )


async def _act(request: web.Request, form: Form, action: Action, done: str) -> web.Response:
    """Run a form's action through the service; back to the complaint (303) when it is done.

    Bad input shows the page again with the errors and what was typed (422); a complaint that
    is no longer in a state for the action is reported, and nothing changed in either case.
    """
    me, now = request[CURRENT_STAFF], _now(request)
    complaint = await _visible(request)
    if form.ok:
        try:
            await action(me, now, complaint.id)
        except ComplaintNotFound:
            raise web.HTTPNotFound() from None
        except NotAllowed:
            raise web.HTTPForbidden() from None
        except InvalidInput as exc:
            form.error(*INPUT_REFUSED.get(exc.field, (exc.field, "内容无效，请检查后重试")))
        except ComplaintError as exc:
            await flash(
                request, STATE_REFUSED if isinstance(exc, InvalidState) else CHANGED_MEANWHILE, "error"
            )
            raise _to_detail(request, complaint.id) from None
        else:
            log.info(
                "complaint action",
                extra={"action": request.match_info.route.name, "complaint": complaint.number},
            )
            await flash(request, done)
            raise _to_detail(request, complaint.id)
    return await _detail_page(request, form, status=422)


def _to_detail(request: web.Request, complaint_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(request.app.router["complaints.detail"].url_for(id=str(complaint_id)))


@routes.get("/complaints/{id:\\d+}/photos/{photo:\\d+}", name="complaints.photo")
@requires(Permission.VIEW_COMPLAINTS)
async def complaint_photo(request: web.Request) -> web.FileResponse:
    """A photo the customer sent, from the media folder, to those who may see the complaint."""
    complaint = await _visible(request)
    photo = await ComplaintPhoto.get_or_none(
        id=_url_id(request, "photo"), complaint_id=complaint.id, path__isnull=False
    )
    file = _photo_file(request.config_dict[SETTINGS].media_dir, photo.path if photo else None)
    if file is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        file, headers={"Content-Type": PHOTO_TYPES[file.suffix], "Cache-Control": "private, max-age=300"}
    )


def _photo_file(folder: Path, relative: str | None) -> Path | None:
    """The stored image, if it is one and still there; never a path outside the media folder."""
    if relative is None:
        return None
    try:
        file = media.resolve(folder, relative)
    except media.MediaError:
        return None
    return file if file.suffix in PHOTO_TYPES and file.is_file() else None


# --- shared -----------------------------------------------------------------------------------


async def _visible(request: web.Request) -> Complaint:
    """The complaint named in the URL if the viewer may see it; otherwise it does not exist."""
    complaint = await visible_complaints(request[CURRENT_STAFF]).get_or_none(id=_url_id(request, "id"))
    if complaint is None:
        raise web.HTTPNotFound()
    return complaint


def _url_id(request: web.Request, name: str) -> int:
    """An id from the URL; one no integer column can hold is missing, not a database error."""
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise web.HTTPNotFound()
    return value


def _now(request: web.Request) -> datetime:
    return request.config_dict[CLOCK].now()


def _tz(request: web.Request) -> ZoneInfo:
    return request.config_dict[SETTINGS].tz


def _notices(request: web.Request) -> Notices:
    settings = request.config_dict[SETTINGS]
    return _cached_notices(settings.templates_dir, settings.tz)


@functools.cache
def _cached_notices(templates_dir: Path | None, tz: ZoneInfo) -> Notices:
    """Notices render the customers' and staff's wording; the templates are parsed once."""
    return Notices(Texts(templates_dir), tz)


def _page_number(raw: str | None) -> int:
    return min(int(raw), MAX_PAGE_NUMBER) if raw and raw.isdigit() else 1
