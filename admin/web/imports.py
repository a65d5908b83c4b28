"""Importing the DMS's customers, vehicles and policies from an uploaded CSV or Excel file.

The file goes to bot.services.importing.import_file, the same import as `python -m bot import`:
good rows are stored, bad ones reported (row, column, reason), and a dry run checks and counts
everything while writing nothing. The upload is streamed from the request up to
BOT_MAX_UPLOAD_MB, so it is not bound by the small body limit the app keeps for forms and
WeChat messages; its CSRF token is the form's first field (admin.web.security).

GM and admins import any store's rows; a store manager only their own store's, the others
reported as row errors (bot.services.importing.scope).

The report is kept for an hour (in Redis when configured, so any instance can show it) under a
random token only its uploader can open, and shown on its own page: posting redirects there, so
reloading the page never imports twice, and the row errors download from it as CSV.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import BodyPartReader, web
from redis.asyncio import Redis

from admin.access import Permission, is_group_wide
from admin.auth import CURRENT_STAFF, requires
from admin.web.rendering import render
from bot.app import CLOCK, SETTINGS
from bot.models import Staff
from bot.services.importing import ImportFileError, ImportKind, ImportReport, RowError, import_file
from bot.services.importing.columns import ALIASES, Column
from bot.services.importing.kinds import SPECS

log = logging.getLogger(__name__)

KIND_LABELS: Mapping[ImportKind, str] = {
    ImportKind.CUSTOMERS: "客户",
    ImportKind.VEHICLES: "车辆",
    ImportKind.POLICIES: "保险保单",
}
FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024  # the form's other fields: a kind and a checkbox
MAX_PARTS = 8
REPORT_TTL = timedelta(hours=1)
SHOWN_ERRORS = 200  # on the page; the CSV has them all

routes = web.RouteTableDef()


class ReportStore(Protocol):
    """Where finished import reports wait to be shown, for `REPORT_TTL`."""

    async def put(self, token: str, report: bytes, now: datetime) -> None: ...

    async def get(self, token: str, now: datetime) -> bytes | None: ...


class MemoryReportStore:
    """For a single process (demo, tests without Redis)."""

    def __init__(self) -> None:
        self._reports: dict[str, tuple[datetime, bytes]] = {}

    async def put(self, token: str, report: bytes, now: datetime) -> None:
        self._reports = {key: kept for key, kept in self._reports.items() if kept[0] > now}
        self._reports[token] = (now + REPORT_TTL, report)

    async def get(self, token: str, now: datetime) -> bytes | None:
        kept = self._reports.get(token)
        return kept[1] if kept is not None and kept[0] > now else None


class RedisReportStore:
    def __init__(self, redis: Redis, prefix: str = "admin:import-report:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def put(self, token: str, report: bytes, now: datetime) -> None:
        await self._redis.set(self._prefix + token, report, ex=int(REPORT_TTL.total_seconds()))

    async def get(self, token: str, now: datetime) -> bytes | None:
        found = await self._redis.get(self._prefix + token)
        return found.encode() if isinstance(found, str) else found


def report_store(redis: Redis | None) -> ReportStore:
    return MemoryReportStore() if redis is None else RedisReportStore(redis)


REPORTS = web.AppKey("admin_import_reports", ReportStore)  # type: ignore[type-abstract]


@dataclass(frozen=True)
class KeptReport:
    """An import's report with who ran it, on which file, and when."""

    staff_id: int
    filename: str
    at: datetime
    report: ImportReport

    def dump(self) -> bytes:
        kept = {"staff_id": self.staff_id, "filename": self.filename, "at": self.at.isoformat()}
        return json.dumps({**kept, "report": asdict(self.report)}).encode()

    @classmethod
    def load(cls, raw: bytes) -> KeptReport:
        data: dict[str, Any] = json.loads(raw)
        fields = data["report"]
        errors = [RowError(**error) for error in fields["errors"]]
        report = ImportReport(**{**fields, "kind": ImportKind(fields["kind"]), "errors": errors})
        return cls(data["staff_id"], data["filename"], datetime.fromisoformat(data["at"]), report)


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]
    filename: str
    data: bytes


class UploadTooLarge(Exception):
    pass


@routes.get("/imports", name="imports")
@requires(Permission.IMPORT_DMS_FILES)
async def import_page(request: web.Request) -> web.Response:
    return await _form_page(request, {"kind": ImportKind.CUSTOMERS.value}, {})


@routes.post("/imports", name="imports.upload")
@requires(Permission.IMPORT_DMS_FILES)
async def import_upload(request: web.Request) -> web.Response:
    settings, me = request.config_dict[SETTINGS], request[CURRENT_STAFF]
    try:
        upload = await read_upload(request, settings.max_upload_bytes)
    except UploadTooLarge:
        limit = f"{settings.max_upload_bytes // (1024 * 1024)} MB"
        return await _form_page(
            request, {}, {FILE_FIELD: f"文件超过 {limit} 上限，请拆分后分批导入"}, status=413
        )
    values = {"kind": upload.fields.get("kind", ""), "dry_run": upload.fields.get("dry_run", "")}
    errors: dict[str, str] = {}
    if values["kind"] not in {kind.value for kind in ImportKind}:
        errors["kind"] = "请选择导入的数据类型"
    if not upload.filename or not upload.data:
        errors[FILE_FIELD] = "请选择要导入的 .xlsx 或 .csv 文件"
    if not errors:
        kind, dry_run = ImportKind(values["kind"]), bool(values["dry_run"])
        try:
            report = await import_file(
                kind, upload.data, upload.filename, dry_run=dry_run, store_id=import_store(me)
            )
        except ImportFileError as exc:
            errors[FILE_FIELD] = str(exc)
        else:
            log.info(
                "admin import",
                extra={"staff_id": me.id, "kind": kind.value, "dry_run": dry_run, "bytes": len(upload.data)},
            )
            now = request.config_dict[CLOCK].now()
            token = secrets.token_urlsafe(24)
            kept = KeptReport(me.id, upload.filename, now, report)
            await request.config_dict[REPORTS].put(token, kept.dump(), now)
            raise web.HTTPSeeOther(request.app.router["imports.report"].url_for(token=token))
    return await _form_page(request, values, errors, status=422)


def import_store(staff: Staff) -> int | None:
    """The one store whose rows `staff` may import, or None for any store (GM, admin)."""
    if is_group_wide(staff):
        return None
    store_id: int | None = staff.store_id  # type: ignore[attr-defined]
    if store_id is None:  # a store's role without its store: no store's rows are theirs
        raise web.HTTPForbidden()
    return store_id


async def read_upload(request: web.Request, limit: int) -> Upload:
    """The multipart form's fields and its file, read as they arrive: the file up to `limit`
    bytes, the other fields up to a kilobyte (UploadTooLarge beyond)."""
    if request.content_length is not None and request.content_length > limit + MAX_PARTS * MAX_FIELD_BYTES:
        raise UploadTooLarge()  # refused before reading any of it
    if request.content_type != "multipart/form-data":
        raise web.HTTPBadRequest()
    fields: dict[str, str] = {}
    filename, data = "", b""
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS + 1):  # + 1: the end
            part = await reader.next()
            if part is None:
                return Upload(fields, filename, data)
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest()
            if part.name == FILE_FIELD:
                filename, data = part.filename or "", await _read_part(part, limit)
            elif part.name:
                fields[part.name] = (await _read_part(part, MAX_FIELD_BYTES)).decode("utf-8", "replace")
    except ValueError as exc:  # broken multipart framing
        raise web.HTTPBadRequest() from exc
    raise web.HTTPBadRequest()  # more parts than the form has


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk():
        data += chunk
        if len(data) > limit:
            raise UploadTooLarge()
    return bytes(data)


@routes.get("/imports/reports/{token}", name="imports.report")
@requires(Permission.IMPORT_DMS_FILES)
async def report_page(request: web.Request) -> web.Response:
    kept = await _kept_report(request)
    context = {
        "kept": kept,
        "token": request.match_info["token"],
        "report": kept.report,
        "kind_label": KIND_LABELS[kept.report.kind],
        "shown_errors": kept.report.errors[:SHOWN_ERRORS],
    }
    return await render(request, "imports/report.html", context)


@routes.get("/imports/reports/{token}/errors.csv", name="imports.errors")
@requires(Permission.IMPORT_DMS_FILES)
async def errors_csv(request: web.Request) -> web.Response:
    kept = await _kept_report(request)
    stamp = kept.at.astimezone(request.config_dict[SETTINGS].tz).strftime("%Y%m%d-%H%M")
    filename = f"import-errors-{kept.report.kind.value}-{stamp}.csv"
    return web.Response(
        body=kept.report.errors_csv(),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def _kept_report(request: web.Request) -> KeptReport:
    """The report named in the URL, if it is still kept and this staff member ran the import."""
    raw = await request.config_dict[REPORTS].get(
        request.match_info["token"], request.config_dict[CLOCK].now()
    )
    kept = KeptReport.load(raw) if raw is not None else None
    if kept is None or kept.staff_id != request[CURRENT_STAFF].id:
        raise web.HTTPNotFound(text="导入结果不存在或已过期（保留 1 小时），请重新导入。")
    return kept


async def _form_page(
    request: web.Request, values: dict[str, str], errors: dict[str, str], *, status: int = 200
) -> web.Response:
    me = request[CURRENT_STAFF]
    context = {
        "values": values,
        "errors": errors,
        "store": None if is_group_wide(me) else me.store,
        "kinds": [(kind.value, label) for kind, label in KIND_LABELS.items()],
        "layouts": [
            (KIND_LABELS[kind], _headers(SPECS[kind].required), _headers(SPECS[kind].optional))
            for kind in KIND_LABELS
        ],
        "max_mb": request.config_dict[SETTINGS].max_upload_bytes // (1024 * 1024),
    }
    return await render(request, "imports/form.html", context, status=status)


def _headers(columns: frozenset[Column]) -> list[str]:
    """Each column's usual header, in the order a DMS export lists them."""
    return [aliases[0] for column, aliases in ALIASES.items() if column in columns]
