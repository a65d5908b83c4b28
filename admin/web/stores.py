"""Stores (admin only): list, create, edit: contact details, coordinates and rescue radius."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from admin.access import Permission
from admin.auth import requires
from admin.web.forms import Form
from admin.web.pagination import paginate
from admin.web.rendering import render
from admin.web.sessions import flash
from bot.models import Store

routes = web.RouteTableDef()

FIELDS = ("name", "code", "address", "latitude", "longitude", "phone", "hours", "rescue_radius_km")


@routes.get("/stores", name="stores")
@requires(Permission.MANAGE_STORES)
async def store_list(request: web.Request) -> web.Response:
    page = await paginate(request, Store.all().order_by("code"))
    return await render(request, "stores/list.html", {"page": page})


@routes.get("/stores/new", name="stores.new")
@requires(Permission.MANAGE_STORES)
async def store_new(request: web.Request) -> web.Response:
    return await _form_page(request, None, {"rescue_radius_km": "30"}, {})


@routes.post("/stores/new", name="stores.create")
@requires(Permission.MANAGE_STORES)
async def store_create(request: web.Request) -> web.Response:
    form = Form(await request.post())
    fields = read_store(form)
    if form.ok:
        try:
            store = await Store.create(**fields)
        except IntegrityError:
            form.error("code", "该门店编码已存在")
        else:
            await flash(request, f"已创建门店「{store.name}」")
            raise web.HTTPSeeOther(request.app.router["stores"].url_for())
    return await _form_page(request, None, form.values, form.errors, status=422)


@routes.get("/stores/{id:\\d+}/edit", name="stores.edit")
@requires(Permission.MANAGE_STORES)
async def store_edit(request: web.Request) -> web.Response:
    store = await _store(request)
    values = {name: "" if getattr(store, name) is None else str(getattr(store, name)) for name in FIELDS}
    return await _form_page(request, store, values, {})


@routes.post("/stores/{id:\\d+}/edit", name="stores.update")
@requires(Permission.MANAGE_STORES)
async def store_update(request: web.Request) -> web.Response:
    store = await _store(request)
    form = Form(await request.post())
    fields = read_store(form)
    if form.ok:
        try:
            await Store.filter(id=store.id).update(**fields)
        except IntegrityError:
            form.error("code", "该门店编码已存在")
        else:
            await flash(request, f"已保存门店「{fields['name']}」")
            raise web.HTTPSeeOther(request.app.router["stores"].url_for())
    return await _form_page(request, store, form.values, form.errors, status=422)


def read_store(form: Form) -> dict[str, Any]:
    fields = {
        "name": form.text("name", "门店名称", required=True, max_length=100),
        "code": form.text(
            "code",
            "门店编码",
            required=True,
            max_length=32,
            pattern=r"[A-Za-z0-9_-]+",
            hint="字母、数字、-、_",
        ),
        "address": form.text("address", "地址", max_length=255),
        "latitude": form.number("latitude", "纬度", low=-90, high=90),
        "longitude": form.number("longitude", "经度", low=-180, high=180),
        "phone": form.text("phone", "电话", max_length=32, pattern=r"[0-9+\- ()转]+", hint="数字和 -"),
        "hours": form.text("hours", "营业时间", max_length=100),
        "rescue_radius_km": form.number("rescue_radius_km", "免费救援半径", low=0, high=500, required=True),
    }
    if (fields["latitude"] is None) != (fields["longitude"] is None):
        form.error("longitude", "经纬度需同时填写")
    return fields


async def _store(request: web.Request) -> Store:
    store = await Store.get_or_none(id=int(request.match_info["id"]))
    if store is None:
        raise web.HTTPNotFound()
    return store


async def _form_page(
    request: web.Request,
    store: Store | None,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> web.Response:
    context = {"store": store, "values": values, "errors": errors}
    return await render(request, "stores/form.html", context, status=status)
