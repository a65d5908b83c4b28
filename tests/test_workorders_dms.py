"""A DMS-like sequence of service calls takes a work order from 已接车 to 已交车, with one 增项
approved by the customer in chat; the customer gets exactly one 待交车 push (checked at the fake
WeChat after draining the outbox), and settling twice records one settlement."""

from __future__ import annotations

from datetime import time, timedelta

from bot.models import AppointmentStatus, ExtraItemStatus, Settlement, Vehicle, WorkStage
from bot.models.booking import Appointment
from bot.services.workorders import extras, orders, settlement
from bot.services.workorders.orders import DMS
from tests.conftest import MakeBot
from tests.test_booking_support import (
    CUSTOMER_OPENID,
    MONDAY,
    TEMPLATE_IDS,
    TZ,
    book_for,
    drain_outbox,
    make_workshop,
    notifier,
    sent_to,
    words,
)

S = WorkStage


async def test_dms_sequence_with_an_extra_item_approved_in_chat(make_bot: MakeBot) -> None:
    bot = await make_bot(template_ids=TEMPLATE_IDS)
    clock = bot.clock
    shop = await make_workshop()
    booking = (await book_for(shop, MONDAY, time(10, 0), now=clock.now())).appointment

    async def dms_moves(*stages: WorkStage) -> None:
        for stage in stages:
            clock.advance(minutes=40)
            await orders.change_stage(order.id, stage, author=DMS, now=clock.now(), notifier=notifier())

    clock.advance(hours=1)  # 10:00, the car arrives
    order = (
        await orders.open_for_plate("粤B12345", author=DMS, now=clock.now(), tz=TZ, number="RO-20261123-7")
    ).order
    await orders.set_eta(order.id, clock.now() + timedelta(hours=6))
    await dms_moves(S.DIAGNOSING)
    item = await extras.add_extra_item(
        order.id,
        description="前刹车片 剩余2mm，建议更换",
        parts_price="400",
        labour_price="80",
        author=DMS,
        now=clock.now(),
        notifier=notifier(),
        external_ref="RO-20261123-7/1",
    )
    await drain_outbox(bot)
    clock.advance(minutes=5)
    approved = await bot.user(CUSTOMER_OPENID).text(f"同意 {item.id}")  # signed at the clock's time
    await dms_moves(S.AWAITING_PARTS, S.REPAIRING, S.QUALITY_CHECK, S.READY, S.READY)  # READY sent twice
    await drain_outbox(bot)
    clock.advance(minutes=30)
    for _ in range(2):
        await settlement.settle(order.id, invoice_no="INV-88001", amount="1680.00", now=clock.now(), tz=TZ)
    await dms_moves(S.DELIVERED)
    await drain_outbox(bot)

    assert "已记录：您同意了增项" in approved.text
    answered = await extras.pending_extra_items(order_id=order.id)
    assert answered == []
    item = await type(item).get(id=item.id)
    assert item.status is ExtraItemStatus.APPROVED and item.answered_by == CUSTOMER_OPENID

    pushes = [words(m) for m in sent_to(bot, CUSTOMER_OPENID)]
    assert sum("前刹车片" in p for p in pushes) == 1
    assert sum("可以提车" in p or "待交车" in p for p in pushes) == 1
    assert len(pushes) == 2

    assert (await Appointment.get(id=booking.id)).status is AppointmentStatus.FULFILLED
    timeline = [c.to_stage for c in await orders.timeline(order.id)]
    assert timeline == [
        S.RECEIVED,
        S.DIAGNOSING,
        S.AWAITING_PARTS,
        S.REPAIRING,
        S.QUALITY_CHECK,
        S.READY,
        S.DELIVERED,
    ]
    assert await Settlement.filter(work_order_id=order.id).count() == 1
    assert (await Vehicle.get(id=shop.vehicle.id)).last_service_date == MONDAY
