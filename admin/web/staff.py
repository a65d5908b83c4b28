"""Staff pages: admins create and edit accounts and reset passwords; managers see their store's
staff and switch who is on duty (on-duty staff receive rescue and complaint assignments)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from admin.access import ROLE_LABELS, Permission, can_toggle_duty, visible_staff
from admin.auth import CURRENT_STAFF, requires
from admin.web import staff_wechat
from admin.web.forms import Form
from admin.web.pagination import paginate
from admin.web.rendering import render
from admin.web.scoping import scoped_staff
from admin.web.sessions import flash
from bot.models import Role, Staff, Store
from bot.services.passwords import hash_password_off_loop
from bot.services.staff_accounts import (
    MIN_PASSWORD_LENGTH,
    StaffAccountError,
    add_staff,
    end_access_if_deactivated,
)

routes = web.RouteTableDef()

TAKEN = "该手机号或用户名已被其他员工使用"


@routes.get("/staff", name="staff")
@requires(Permission.VIEW_STAFF)
async def staff_list(request: web.Request) -> web.Response:
    me = request[CURRENT_STAFF]
    query = request.query.get("q", "").strip()
    staff = visible_staff(me).prefetch_related("store").order_by("store_id", "role", "id")
    if query:
        staff = staff.filter(
            Q(name__icontains=query) | Q(phone__contains=query) | Q(username__icontains=query)
        )
    page = await paginate(request, staff)
    toggles = {member.id for member in page.items if can_toggle_duty(me, member)}
    return await render(request, "staff/list.html", {"page": page, "q": query, "toggles": toggles})


@routes.get("/staff/{id:\\d+}", name="staff.detail")
@requires(Permission.VIEW_STAFF)
async def staff_detail(request: web.Request) -> web.Response:
    me, member = request[CURRENT_STAFF], await scoped_staff(request)
    context = {
        "member": member,
        "can_toggle": can_toggle_duty(me, member),
        "qr": await staff_wechat.shown_qr(request, member),
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return await render(request, "staff/detail.html", context)


@routes.get("/staff/new", name="staff.new")
@requires(Permission.MANAGE_STAFF)
async def staff_new(request: web.Request) -> web.Response:
    return await _form_page(request, None, {"on_duty": "on", "active": "on"}, {})


@routes.post("/staff/new", name="staff.create")
@requires(Permission.MANAGE_STAFF)
async def staff_create(request: web.Request) -> web.Response:
    form = Form(await request.post())
    fields = await read_staff(form)
    password = form.text("password", "初始密码", required=True, max_length=128)
    if password and len(password) < MIN_PASSWORD_LENGTH:
        form.error("password", f"密码至少 {MIN_PASSWORD_LENGTH} 位")

    async def create() -> Staff:
        store = fields["store"]
        member = await add_staff(
            name=fields["name"],
            phone=fields["phone"],
            role=fields["role"],
            username=fields["username"],
            store_code=store.code if store else None,
            password=password,
        )
        await Staff.filter(id=member.id).update(on_duty=fields["on_duty"], active=fields["active"])
        return member

    return await _save(request, None, form, create, f"已创建员工「{fields['name']}」")


@routes.get("/staff/{id:\\d+}/edit", name="staff.edit")
@requires(Permission.MANAGE_STAFF)
async def staff_edit(request: web.Request) -> web.Response:
    member = await scoped_staff(request)
    values = {
        "name": member.name,
        "phone": member.phone,
        "username": member.username or "",
        "role": str(member.role),
        "store": str(member.store_id or ""),  # type: ignore[attr-defined]
        "on_duty": "on" if member.on_duty else "",
        "active": "on" if member.active else "",
    }
    return await _form_page(request, member, values, {})


@routes.post("/staff/{id:\\d+}/edit", name="staff.update")
@requires(Permission.MANAGE_STAFF)
async def staff_update(request: web.Request) -> web.Response:
    me, member = request[CURRENT_STAFF], await scoped_staff(request)
    form = Form(await request.post())
    fields = await read_staff(form)
    if member.id == me.id and (fields["role"] != Role.ADMIN or not fields["active"]):
        form.error("role", "不能取消自己的管理员角色或停用自己的账号")

    async def update() -> Staff:
        await Staff.filter(id=member.id).update(**fields)
        await end_access_if_deactivated(member.id, fields["active"])
        return member

    return await _save(request, member, form, update, f"已保存员工「{fields['name']}」")


@routes.post("/staff/{id:\\d+}/duty", name="staff.duty")
@requires(Permission.TOGGLE_DUTY)
async def staff_duty(request: web.Request) -> web.Response:
    member = await scoped_staff(request)
    if not can_toggle_duty(request[CURRENT_STAFF], member):
        raise web.HTTPForbidden()
    form = Form(await request.post())
    on_duty = form.checkbox("on_duty")
    await Staff.filter(id=member.id).update(on_duty=on_duty)
    await flash(request, f"{member.name} 已{'上岗' if on_duty else '离岗'}")
    back = form.values.get("next", "")
    if not back.startswith(str(request.app.router["staff"].url_for())):  # only the staff list or pages
        raise _to_detail(request, member)
    raise web.HTTPSeeOther(back)


@routes.post("/staff/{id:\\d+}/password", name="staff.password")
@requires(Permission.MANAGE_STAFF)
async def staff_password(request: web.Request) -> web.Response:
    member = await scoped_staff(request)
    password = str((await request.post()).get("password", ""))
    if len(password) < MIN_PASSWORD_LENGTH:
        await flash(request, f"密码未修改：新密码至少 {MIN_PASSWORD_LENGTH} 位", "error")
    else:
        await Staff.filter(id=member.id).update(password_hash=await hash_password_off_loop(password))
        await flash(request, f"已重置 {member.name} 的密码")
    raise _to_detail(request, member)


async def read_staff(form: Form) -> dict[str, Any]:
    """The account fields of the staff form; a store-scoped role must name its store."""
    stores = {str(store.id): store for store in await Store.all()}
    role = form.choice("role", "角色", [role.value for role in Role])
    store_id = form.choice("store", "门店", stores, required=False)
    if role is not None and not Role(role).is_group_wide and store_id is None:
        form.error("store", f"{ROLE_LABELS[Role(role)]}需要选择所属门店")
    username = form.text(
        "username", "用户名", max_length=50, pattern=r"[A-Za-z0-9_.-]+", hint="字母、数字、_ . -"
    )
    return {
        "name": form.text("name", "姓名", required=True, max_length=50),
        "phone": form.mobile("phone", "手机号"),
        "username": username or None,
        "role": role,
        "store": stores[store_id] if store_id else None,
        "on_duty": form.checkbox("on_duty"),
        "active": form.checkbox("active"),
    }


async def _save(
    request: web.Request, member: Staff | None, form: Form, save: Callable[[], Awaitable[Staff]], done: str
) -> web.Response:
    """Run `save` for a valid form, then say `done` on the saved member's page; bad input, or a
    phone or username another staff member has, shows the form again (422) with what was typed."""
    if form.ok:
        try:
            saved = await save()
        except (StaffAccountError, IntegrityError):
            form.error("phone", TAKEN)
        else:
            await flash(request, done)
            raise _to_detail(request, saved)
    return await _form_page(request, member, form.values, form.errors, status=422)


def _to_detail(request: web.Request, member: Staff) -> web.HTTPSeeOther:
    """Back to the staff member's page (303), where every change to them ends."""
    return web.HTTPSeeOther(request.app.router["staff.detail"].url_for(id=str(member.id)))


async def _form_page(
    request: web.Request,
    member: Staff | None,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> web.Response:
    context = {
        "member": member,
        "values": values,
        "errors": errors,
        "roles": [(role.value, label) for role, label in ROLE_LABELS.items()],
        "store_options": [
            (str(store.id), f"{store.name}（{store.code}）") for store in await Store.all().order_by("code")
        ],
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return await render(request, "staff/form.html", context, status=status)
