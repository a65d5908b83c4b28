"""Work-order rules through the services: stages forward only (optional 待料/洗车中), every change
kept with its author, arrival fulfils the booking, one open order per car, settlement idempotent
by invoice; on both backends."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta
from decimal import Decimal

import pytest

from bot.clock import FrozenClock
from bot.models import (
    AppointmentStatus,
    ChangeSource,
    ExtraItem,
    ExtraItemStatus,
    Outbox,
    SettledAmountEvent,
    Settlement,
    StageChange,
    Vehicle,
    WorkOrder,
    WorkStage,
)
from bot.models.booking import Appointment
from bot.services import staff_binding
from bot.services.workorders import extras, orders, settlement
from bot.services.workorders.errors import (
    ExtraItemAnswered,
    ExtraItemNotFound,
    InvalidStageChange,
    InvalidValue,
    InvoiceConflict,
    NumberTaken,
    VehicleInWorkshop,
    VehicleNotFound,
    WorkOrderClosed,
)
from bot.services.workorders.orders import DMS, Author
from tests import factories
from tests.backends import Backend
from tests.test_booking_support import (
    ADVISOR_OPENID,
    CUSTOMER_OPENID,
    MONDAY,
    TZ,
    book_for,
    make_workshop,
    notifier,
)

S = WorkStage


async def opened(clock: FrozenClock, plate: str = "粤B12345", **fields: object) -> WorkOrder:
    return (await orders.open_for_plate(plate, author=DMS, now=clock.now(), tz=TZ, **fields)).order  # type: ignore[arg-type]


async def move(order: WorkOrder, *stages: WorkStage, clock: FrozenClock, author: Author = DMS) -> WorkOrder:
    for stage in stages:
        clock.advance(minutes=30)
        order = (
            await orders.change_stage(order.id, stage, author=author, now=clock.now(), notifier=notifier())
        ).order
    return order


async def add_item(
    order: WorkOrder, clock: FrozenClock, description: str, parts: str = "120", labour: str = "30"
) -> ExtraItem:
    return await extras.add_extra_item(
        order.id,
        description=description,
        parts_price=parts,
        labour_price=labour,
        author=DMS,
        now=clock.now(),
        notifier=notifier(),
    )


async def answer(
    item: ExtraItem, customer_id: int, *, approve: bool, clock: FrozenClock, openid: str = CUSTOMER_OPENID
) -> ExtraItem:
    return await extras.answer_extra_item(
        item.id, customer_id=customer_id, approve=approve, openid=openid, now=clock.now(), notifier=notifier()
    )


def test_stages_move_one_at_a_time_past_optional_ones_only() -> None:
    assert orders.allowed_next(S.RECEIVED) == (S.DIAGNOSING,)
    assert orders.allowed_next(S.DIAGNOSING) == (S.AWAITING_PARTS, S.REPAIRING)
    assert orders.allowed_next(S.QUALITY_CHECK) == (S.WASHING, S.READY)
    assert orders.allowed_next(S.READY) == (S.DELIVERED,)
    assert orders.allowed_next(S.DELIVERED) == ()
    assert WorkStage.parse("待交车") is S.READY and WorkStage.parse("ready") is S.READY
    with pytest.raises(ValueError, match="已接车"):
        WorkStage.parse("修好了")


async def test_a_work_order_is_opened_for_a_plate_and_linked_to_its_owner(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()

    order = await opened(clock, "粤b·12345", mileage_km=48_000)

    assert (order.vehicle_id, order.customer_id, order.store_id, order.advisor_id) == (  # type: ignore[attr-defined]
        shop.vehicle.id,
        shop.customer.id,
        shop.store.id,
        shop.advisor.id,
    )
    assert order.number == f"W20261123-{order.id:04d}" and order.stage is S.RECEIVED
    [change] = await orders.timeline(order.id)
    assert (change.from_stage, change.to_stage, change.source, change.at) == (
        None,
        S.RECEIVED,
        ChangeSource.DMS,
        clock.now(),
    )


async def test_unknown_or_malformed_plates_are_refused(db: Backend, clock: FrozenClock) -> None:
    await make_workshop()
    with pytest.raises(VehicleNotFound, match="not a plate"):
        await opened(clock, "12345")
    with pytest.raises(VehicleNotFound, match="no vehicle"):
        await opened(clock, "粤B99999")
    assert await WorkOrder.all().count() == 0


async def test_the_dms_number_makes_a_repeated_open_return_the_same_order(
    db: Backend, clock: FrozenClock
) -> None:
    await make_workshop()
    first = await orders.open_for_plate("粤B12345", author=DMS, now=clock.now(), tz=TZ, number="RO-1")
    again = await orders.open_for_plate("粤B12345", author=DMS, now=clock.now(), tz=TZ, number="RO-1")

    assert first.created and not again.created and again.order.id == first.order.id
    with pytest.raises(VehicleInWorkshop, match="RO-1"):
        await opened(clock, number="RO-2")  # a second open order for the same car
    await factories.customer_with_car(
        await factories.store(code="SZ09"), phone="13700000001", plate="粤B54321"
    )
    with pytest.raises(NumberTaken):
        await opened(clock, "粤B54321", number="RO-1")


async def test_concurrent_opens_for_one_car_give_one_order(db: Backend, clock: FrozenClock) -> None:
    await make_workshop()
    outcomes = await asyncio.gather(*(opened(clock) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(o, WorkOrder) for o in outcomes) == 1
    assert all(isinstance(o, VehicleInWorkshop) for o in outcomes if not isinstance(o, WorkOrder))


async def test_arrival_of_a_booked_car_fulfils_its_booking_of_today(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    today = (await book_for(shop, MONDAY, time(10, 0), now=clock.now())).appointment
    tomorrow = (await book_for(shop, MONDAY + timedelta(days=1), time(10, 0), now=clock.now())).appointment

    order = await opened(clock)

    assert order.appointment_id == today.id  # type: ignore[attr-defined]
    assert (await Appointment.get(id=today.id)).status is AppointmentStatus.FULFILLED
    assert (await Appointment.get(id=tomorrow.id)).status is AppointmentStatus.BOOKED


async def test_invalid_jumps_are_refused_with_the_allowed_next_stages(
    db: Backend, clock: FrozenClock
) -> None:
    await make_workshop()
    order = await opened(clock)

    with pytest.raises(
        InvalidStageChange, match=r"received \(已接车\) to repairing \(维修中\); next: diagnosing"
    ):
        await move(order, S.REPAIRING, clock=clock)
    order = await move(order, S.DIAGNOSING, S.REPAIRING, clock=clock)  # 待料 passed by
    with pytest.raises(InvalidStageChange):
        await move(order, S.DIAGNOSING, clock=clock)  # never backwards
    with pytest.raises(InvalidStageChange):
        await move(order, S.READY, clock=clock)  # 质检中 is not optional

    assert (await WorkOrder.get(id=order.id)).stage is S.REPAIRING
    assert await StageChange.filter(work_order_id=order.id).count() == 3


async def test_every_change_is_kept_with_its_time_and_author(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    order = await opened(clock)
    await move(order, S.DIAGNOSING, clock=clock)
    await move(order, S.AWAITING_PARTS, clock=clock, author=Author.staff(shop.advisor.id))

    changes = await orders.timeline(order.id)

    assert [(c.from_stage, c.to_stage) for c in changes] == [
        (None, S.RECEIVED),
        (S.RECEIVED, S.DIAGNOSING),
        (S.DIAGNOSING, S.AWAITING_PARTS),
    ]
    assert [c.source for c in changes] == [ChangeSource.DMS, ChangeSource.DMS, ChangeSource.STAFF]
    assert changes[2].staff_id == shop.advisor.id and changes[2].at == clock.now()  # type: ignore[attr-defined]
    assert (await WorkOrder.get(id=order.id)).stage_since == clock.now()


async def test_setting_the_same_stage_twice_changes_nothing(db: Backend, clock: FrozenClock) -> None:
    await make_workshop()
    order = await move(await opened(clock), S.DIAGNOSING, clock=clock)
    again = await orders.change_stage(
        order.id, S.DIAGNOSING, author=DMS, now=clock.now(), notifier=notifier()
    )
    assert not again.changed
    assert await StageChange.filter(work_order_id=order.id).count() == 2


async def test_ready_is_queued_for_the_customer_once_even_when_set_concurrently(
    db: Backend, clock: FrozenClock
) -> None:
    await make_workshop()
    order = await move(await opened(clock), S.DIAGNOSING, S.REPAIRING, S.QUALITY_CHECK, clock=clock)

    results = await asyncio.gather(
        *(
            orders.change_stage(order.id, S.READY, author=DMS, now=clock.now(), notifier=notifier())
            for _ in range(4)
        )
    )

    assert sorted(r.changed for r in results) == [False, False, False, True]
    assert await StageChange.filter(work_order_id=order.id, to_stage=S.READY).count() == 1
    ready = await Outbox.filter(openid=CUSTOMER_OPENID, template_name="workorder_ready")
    assert len(ready) == 1 and "可以提车" in ready[0].text


async def test_delivery_closes_the_order_and_frees_the_car_for_the_next_visit(
    db: Backend, clock: FrozenClock
) -> None:
    await make_workshop()
    order = await move(
        await opened(clock),
        S.DIAGNOSING,
        S.REPAIRING,
        S.QUALITY_CHECK,
        S.WASHING,
        S.READY,
        S.DELIVERED,
        clock=clock,
    )

    assert order.closed_at == clock.now() and order.open_vehicle_id is None
    with pytest.raises(WorkOrderClosed):
        await move(order, S.READY, clock=clock)
    with pytest.raises(WorkOrderClosed):
        await orders.set_eta(order.id, clock.now() + timedelta(hours=1))
    assert (await opened(clock)).id != order.id


async def test_eta_must_be_aware_and_after_arrival(db: Backend, clock: FrozenClock) -> None:
    await make_workshop()
    order = await opened(clock)
    eta = clock.now() + timedelta(hours=6)

    assert (await orders.set_eta(order.id, eta)).eta == eta
    with pytest.raises(InvalidValue, match="before the car arrived"):
        await orders.set_eta(order.id, clock.now() - timedelta(hours=1))
    with pytest.raises(InvalidValue, match="time zone"):
        await orders.set_eta(order.id, eta.replace(tzinfo=None))
    assert (await WorkOrder.get(id=order.id)).eta == eta


async def test_extra_items_are_recorded_once_per_dms_reference_and_pushed(
    db: Backend, clock: FrozenClock
) -> None:
    await make_workshop()
    order = await opened(clock)

    async def add(ref: str | None = "dms-7") -> ExtraItem:
        return await extras.add_extra_item(
            order.id,
            description="前刹车片 剩余2mm，建议更换",
            parts_price="400",
            labour_price=Decimal("80.00"),
            author=DMS,
            now=clock.now(),
            notifier=notifier(),
            external_ref=ref,
        )

    item, again = await add(), await add()

    assert again.id == item.id and item.status is ExtraItemStatus.PENDING and item.total == Decimal("480.00")
    [push] = await Outbox.filter(openid=CUSTOMER_OPENID, template_name="extra_item")
    assert "前刹车片" in push.text and "合计 ¥480.00" in push.text and f"同意 {item.id}" in push.text
    assert [i.id for i in await extras.pending_extra_items(order_id=order.id)] == [item.id]


@pytest.mark.parametrize(
    ("description", "parts", "labour", "problem"),
    [
        ("", "1", "1", "description"),
        ("换机油", "-1", "0", "parts price"),
        ("换机油", "1.005", "0", "at most 2 decimals"),
        ("换机油", "abc", "0", "not an amount"),
        ("换机油", "1", "NaN", "labour price"),
    ],
)
async def test_bad_extra_items_are_refused(
    db: Backend, clock: FrozenClock, description: str, parts: str, labour: str, problem: str
) -> None:
    await make_workshop()
    order = await opened(clock)
    with pytest.raises(InvalidValue, match=problem):
        await add_item(order, clock, description, parts, labour)
    assert await ExtraItem.all().count() == 0 and await Outbox.all().count() == 0


async def test_an_answer_is_recorded_once_only_by_the_owner_and_told_to_the_advisor_once(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    stranger, _ = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    order = await opened(clock)
    item = await add_item(order, clock, "雨刮片", parts="60", labour="0")
    clock.advance(minutes=20)

    with pytest.raises(ExtraItemNotFound):
        await answer(item, stranger.id, approve=True, openid="o-x", clock=clock)
    answered = await answer(item, shop.customer.id, approve=False, clock=clock)
    repeated = await answer(item, shop.customer.id, approve=False, clock=clock)  # a retry

    assert (answered.status, answered.answered_at, answered.answered_by) == (
        ExtraItemStatus.DECLINED,
        clock.now(),
        CUSTOMER_OPENID,
    )
    assert repeated.status is ExtraItemStatus.DECLINED
    with pytest.raises(ExtraItemAnswered):
        await answer(item, shop.customer.id, approve=True, clock=clock)
    [told] = await Outbox.filter(openid=ADVISOR_OPENID, template_name="extra_item_answered")
    assert told.text.startswith(f"增项被拒绝：工单 {order.number}\n客户：张先生（粤B12345 雅阁）")
    assert f"增项：雨刮片（编号{item.id}）" in told.text and "本项不施工" in told.text
    assert "答复时间：11月23日 09:20" in told.text
    assert told.template_data == dict(
        keyword1=order.number,
        keyword2="粤B12345",
        keyword3="雨刮片",
        keyword4="不同意",
        keyword5="2026-11-23 09:20",
    )


async def test_an_advisor_without_wechat_is_told_nothing_but_the_answer_is_kept(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    await staff_binding.unbind(shop.advisor)
    order = await opened(clock)
    item = await add_item(order, clock, "空调滤芯")

    approved = await answer(item, shop.customer.id, approve=True, clock=clock)

    assert approved.status is ExtraItemStatus.APPROVED
    assert await Outbox.filter(template_name="extra_item_answered").count() == 0


async def test_settling_twice_with_one_invoice_records_one_settlement(
    db: Backend, clock: FrozenClock
) -> None:
    shop = await make_workshop()
    order = await opened(clock, mileage_km=48_000)
    await Vehicle.filter(id=shop.vehicle.id).update(mileage_km=50_000)

    results = await asyncio.gather(
        *(
            settlement.settle(
                order.id, invoice_no="INV-9", amount="1280.50", now=clock.now(), tz=TZ, mileage_km=48_100
            )
            for _ in range(3)
        )
    )

    assert sorted(r.created for r in results) == [False, False, True]
    assert await Settlement.all().count() == 1
    [event] = await SettledAmountEvent.all()
    assert (event.amount, event.customer_id, event.work_order_id, event.consumed_at) == (  # type: ignore[attr-defined]
        Decimal("1280.50"),
        shop.customer.id,
        order.id,
        None,
    )
    vehicle = await Vehicle.get(id=shop.vehicle.id)
    assert (vehicle.last_service_date, vehicle.last_service_mileage_km, vehicle.mileage_km) == (
        MONDAY,
        48_100,
        50_000,
    )


async def test_an_invoice_settles_one_order_and_an_order_one_invoice(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    _, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    order, other = await opened(clock), await opened(clock, other_car.plate)
    await settlement.settle(order.id, invoice_no="INV-1", amount="100", now=clock.now(), tz=TZ)

    with pytest.raises(InvoiceConflict, match="another work order"):
        await settlement.settle(other.id, invoice_no="INV-1", amount="100", now=clock.now(), tz=TZ)
    with pytest.raises(InvoiceConflict, match="another invoice"):
        await settlement.settle(order.id, invoice_no="INV-2", amount="100", now=clock.now(), tz=TZ)
    with pytest.raises(InvalidValue):
        await settlement.settle(other.id, invoice_no=" ", amount="100", now=clock.now(), tz=TZ)
    with pytest.raises(InvalidValue):
        await settlement.settle(other.id, invoice_no="INV-3", amount="-5", now=clock.now(), tz=TZ)
    assert await Settlement.all().count() == 1 and await SettledAmountEvent.all().count() == 1


async def test_an_advisors_pending_items_are_listed(db: Backend, clock: FrozenClock) -> None:
    shop = await make_workshop()
    order = await opened(clock)
    item = await add_item(order, clock, "空调滤芯")
    other_advisor = await factories.staff(shop.store, name="陈顾问", phone="13900000002")

    assert [i.id for i in await extras.pending_extra_items(advisor_id=shop.advisor.id)] == [item.id]
    assert await extras.pending_extra_items(advisor_id=other_advisor.id) == []
