"""Shared helpers for the complaint tests (no tests here): a store's cast of staff with bound
WeChat openids, a bound customer, filing through the chat, and running the job in-process."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.app import WECHAT
from bot.conversation.texts import Texts
from bot.models import Complaint, Customer, Follower, Role, Settlement, Staff, Store, Vehicle, WorkOrder
from bot.models.complaint import ComplaintCategory
from bot.scheduler.escalate_complaints import escalate_complaints
from bot.scheduler.registry import JobContext
from bot.services.complaints import intake
from bot.services.complaints.intake import NewComplaint
from bot.services.complaints.notices import Notices
from bot.wechat.fake import SentMessage
from bot.wechat.simulator import WeChatUser
from tests import factories
from tests.conftest import Bot

TEMPLATE_IDS = {
    "complaint_assigned": "TPL-ASSIGNED",
    "complaint_warning": "TPL-WARNING",
    "complaint_escalated": "TPL-ESCALATED",
    "complaint_reopened": "TPL-REOPENED",
    "complaint_customer_added": "TPL-ADDED",
    "complaint_update": "TPL-UPDATE",
}
CUSTOMER_OPENID = "o-complainer"


@dataclass(frozen=True)
class Cast:
    store: Store
    advisor: Staff  # the customer's own advisor
    other_advisor: Staff
    service_manager: Staff  # 客服经理
    aftersales_manager: Staff  # 售后经理
    gm: Staff


async def make_cast(code: str = "SZ01", *, phone_prefix: str = "1390000") -> Cast:
    """A store with two advisors and both managers, plus a GM; everyone has a WeChat openid."""
    shop = await factories.store(code=code, name=f"{code}店")

    async def member(role: Role, name: str, n: int, *, store: Store | None = shop) -> Staff:
        return await factories.staff(
            store, role, name=name, phone=f"{phone_prefix}{n:04d}", openid=f"staff-{code}-{role.value}-{n}"
        )

    return Cast(
        store=shop,
        advisor=await member(Role.ADVISOR, "李顾问", 1),
        other_advisor=await member(Role.ADVISOR, "王顾问", 2),
        service_manager=await member(Role.SERVICE_MANAGER, "赵客服经理", 3),
        aftersales_manager=await member(Role.AFTERSALES_MANAGER, "钱售后经理", 4),
        gm=await member(Role.GM, "孙总", 5, store=None),
    )


async def bound_customer(
    cast: Cast, openid: str = CUSTOMER_OPENID, *, phone: str = "13812345678"
) -> Customer:
    """A DMS customer with a car, bound to `openid`, whose advisor is the cast's advisor."""
    customer, _ = await factories.customer_with_car(
        cast.store, phone=phone, plate=f"粤B{phone[-5:]}", advisor=cast.advisor
    )
    await Follower.create(openid=openid, customer=customer)
    return customer


async def file_by_chat(
    bot: Bot, user: WeChatUser | None = None, *, description: str = "保养后发动机异响"
) -> Complaint:
    """The shortest chat: COMPLAINT, category 1, a description, no photos, 确认.

    Pass the test's `user` when it clicks again later: with a frozen clock a new WeChatUser's
    first click has the same retry identity (openid + CreateTime) as this one's.
    """
    user = user or bot.user(CUSTOMER_OPENID)
    await user.click("COMPLAINT")
    await user.text("1")
    await user.text(description)
    await user.text("跳过")
    filed = await user.text("确认")
    assert "投诉已提交" in filed.text, filed.text
    return await Complaint.filter(openid=user.openid).order_by("-id").first().prefetch_related("assignee")  # type: ignore[return-value]


def job_context(bot: Bot) -> JobContext:
    return JobContext(settings=bot.settings, clock=bot.clock, wechat=bot.app[WECHAT])


async def run_job(bot: Bot) -> str:
    return await escalate_complaints(job_context(bot))


def notices_for(bot: Bot) -> Notices:
    return Notices.from_settings(bot.settings)


def sent_to(bot: Bot, staff_or_openid: Staff | str) -> list[SentMessage]:
    openid = staff_or_openid if isinstance(staff_or_openid, str) else staff_or_openid.openid
    return [m for m in bot.wechat.state.messages if m.openid == openid]


def templates_sent_to(bot: Bot, staff: Staff) -> list[str]:
    return [m.payload["template_id"] for m in sent_to(bot, staff) if m.kind == "template"]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


NOTICES = Notices(Texts(), ZoneInfo("Asia/Shanghai"))
_intake_keys = itertools.count(1)


async def file_direct(
    now: datetime,
    *,
    customer: Customer | None = None,
    openid: str = "o-direct",
    category: ComplaintCategory = ComplaintCategory.OTHER,
    description: str = "等了三个小时还没修好",
) -> Complaint:
    """File through the service, as the chat does, without the chat."""
    filed = await intake.file_complaint(
        NewComplaint(
            openid=openid,
            category=category,
            description=description,
            intake_key=f"test-{next(_intake_keys)}",
            phone="" if customer else "13700000000",
            customer_id=customer.id if customer else None,
            own_advisor_id=customer.advisor_id if customer else None,  # type: ignore[attr-defined]
        ),
        NOTICES,
        now,
    )
    return filed.complaint


async def work_order(customer: Customer, number: str, at: datetime, *, settled: bool = False) -> WorkOrder:
    """A work order of the customer's first car, opened at `at` (and settled then, if asked)."""
    vehicle = await Vehicle.filter(customer_id=customer.id).order_by("id").first()
    assert vehicle is not None
    order = await WorkOrder.create(
        number=number,
        vehicle=vehicle,
        customer=customer,
        store_id=vehicle.store_id,  # type: ignore[attr-defined]
        stage_since=at,
        opened_at=at,
    )
    if settled:
        await Settlement.create(
            invoice_no=f"INV-{number}", work_order=order, amount=Decimal("680.00"), settled_at=at
        )
    return order
