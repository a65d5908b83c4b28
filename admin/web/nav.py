"""The navigation: one entry per page, shown only to roles that may open it.

A feature adds its page here (label, route name, permission); the layout and the tests read
this list, so a link never points at a page that answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from admin.access import Permission, allows
from bot.models import Staff


@dataclass(frozen=True)
class NavItem:
    label: str
    route: str
    permission: Permission | None = None  # None: every logged-in staff member


NAV: tuple[NavItem, ...] = (
    NavItem("工作台", "dashboard"),
    NavItem("客户", "customers", Permission.VIEW_CUSTOMERS),
    NavItem("投诉", "complaints", Permission.VIEW_COMPLAINTS),
    NavItem("预约", "appointments", Permission.VIEW_WORKSHOP),
    NavItem("工单", "workorders", Permission.VIEW_WORKSHOP),
    NavItem("员工", "staff", Permission.VIEW_STAFF),
    NavItem("门店", "stores", Permission.MANAGE_STORES),
    NavItem("数据导入", "imports", Permission.IMPORT_DMS_FILES),
    NavItem("数据导出", "exports", Permission.EXPORT_LISTS),
    NavItem("预约设置", "capacity", Permission.MANAGE_CAPACITY),
)


def nav_for(staff: Staff) -> list[NavItem]:
    return [item for item in NAV if item.permission is None or allows(staff, item.permission)]
