"""/api/v1/work-orders and /api/v1/appointments over real HTTP, on both backends: the DMS takes an
order from 已接车 to 已交车 with a 增项 approved in chat, idempotent creates, 增项 and settlements,
invalid jumps, authors, filters and scopes."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from bot.models import AppointmentStatus, ExtraItem, Role, Settlement, StageChange, Vehicle, WorkOrder
from bot.models.booking import Appointment
from tests import factories
from tests.conftest import MakeBot
from tests.test_admin_workshop import shop_of, workshop_team
from tests.test_api_support import API_KEY, Api
from tests.test_booking_support import (
    CUSTOMER_OPENID,
    MONDAY,
    TEMPLATE_IDS,
    TUESDAY,
    book_for,
    drain_outbox,
    make_workshop,
    sent_to,
    words,
)

PLATE = "粤B12345"
BRAKES = {"description": "前刹车片剩余2mm，建议更换", "parts_price": "400", "labour_price": "80.00"}


async def workshop_api(make_bot: MakeBot) -> Api:
    return Api(await make_bot(api_keys=(API_KEY,), template_ids=TEMPLATE_IDS))


async def created(api: Api, **body: Any) -> dict[str, Any]:
    answer = await api.call("POST", "/work-orders", json={"plate": PLATE, **body})
    assert answer.status == 201, answer.body
    return dict(answer.body)


async def move(api: Api, order_id: int, stage: str, *, token: str | None = None, **extra: str) -> Any:
    return await api.call(
        "POST", f"/work-orders/{order_id}/stage", json={"stage": stage, **extra}, token=token
    )


async def test_a_dms_sequence_delivers_with_an_extra_item_approved_in_chat(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    clock = api.bot.clock
    shop = await make_workshop()
    booking = (await book_for(shop, MONDAY, time(10, 0), now=clock.now())).appointment
    clock.advance(hours=1)
    eta = (clock.now() + timedelta(hours=6)).isoformat()

    opened = await created(api, number="RO-20261123-7", eta=eta, mileage_km=52_300)
    reopened = await api.call("POST", "/work-orders", json={"plate": PLATE, "number": "RO-20261123-7"})
    order_id = opened["id"]
    clock.advance(minutes=30)
    assert (await move(api, order_id, "诊断中")).status == 200
    item_body = {**BRAKES, "external_ref": "RO-20261123-7/1"}
    item = await api.call("POST", f"/work-orders/{order_id}/extra-items", json=item_body)
    item_again = await api.call("POST", f"/work-orders/{order_id}/extra-items", json=item_body)
    await drain_outbox(api.bot)
    clock.advance(minutes=5)
    approved = await api.bot.user(CUSTOMER_OPENID).text(f"同意 {item.body['id']}")
    for stage in ("awaiting_parts", "repairing", "quality_check", "ready", "待交车"):  # READY sent twice
        clock.advance(minutes=40)
        assert (await move(api, order_id, stage)).status == 200, stage
    await drain_outbox(api.bot)
    clock.advance(minutes=30)
    settle = {"invoice_no": "INV-88001", "amount": "1680.00", "mileage_km": 52_310}
    first = await api.call("POST", f"/work-orders/{order_id}/settlement", json=settle)
    second = await api.call("POST", f"/work-orders/{order_id}/settlement", json=settle)
    delivered = await move(api, order_id, "delivered")
    await drain_outbox(api.bot)
    detail = (await api.call("GET", f"/work-orders/{order_id}")).body

    assert reopened.status == 200 and reopened.body["id"] == order_id
    assert opened["stage"] == "received" and opened["appointment_id"] == booking.id
    assert item.status == 201 and item_again.status == 200 and item_again.body["id"] == item.body["id"]
    assert "已记录：您同意了增项" in approved.text
    assert first.status == 201 and second.status == 200 and second.body["id"] == first.body["id"]
    assert first.body["amount"] == "1680.00"
    assert delivered.status == 200 and detail["stage"] == "delivered" and detail["next_stages"] == []
    assert [c["to_stage"] for c in detail["timeline"]] == [
        "received",
        "diagnosing",
        "awaiting_parts",
        "repairing",
        "quality_check",
        "ready",
        "delivered",
    ]
    assert {(c["source"], c["staff_id"]) for c in detail["timeline"]} == {("dms", None)}
    [extra] = detail["extra_items"]
    assert (extra["status"], extra["total"], extra["source"]) == ("approved", "480.00", "dms")
    assert extra["answered_at"] is not None
    assert detail["settlement"]["invoice_no"] == "INV-88001"

    pushes = [words(m) for m in sent_to(api.bot, CUSTOMER_OPENID)]  # in the chat window: texts
    assert sum("可以提车" in p for p in pushes) == 1
    assert sum("前刹车片" in p for p in pushes) == 1 and len(pushes) == 2
    assert await Settlement.all().count() == 1
    assert (await Appointment.get(id=booking.id)).status is AppointmentStatus.FULFILLED
    vehicle = await Vehicle.get(id=shop.vehicle.id)
    assert (vehicle.last_service_date, vehicle.mileage_km) == (MONDAY, 52_310)


async def test_an_invalid_jump_is_422_with_the_rule_and_changes_nothing(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    await make_workshop()
    order = await created(api)

    jump = await move(api, order["id"], "ready")
    unknown = await move(api, order["id"], "修好了")

    assert jump.status == 422 and jump.body["code"] == "validation_error"
    assert "cannot move from received (已接车) to ready (待交车)" in jump.body["message"]
    assert "next: diagnosing (诊断中)" in jump.body["fields"]["stage"]
    assert unknown.status == 422 and "stage" in unknown.body["fields"]
    assert (await WorkOrder.get(id=order["id"])).stage == "received"
    assert await StageChange.filter(work_order_id=order["id"]).count() == 1


async def test_times_before_the_stage_began_and_delivered_orders_are_refused(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    await make_workshop()
    order = await created(api)
    clock = api.bot.clock
    earlier = (clock.now() - timedelta(minutes=5)).isoformat()

    backdated = await move(api, order["id"], "diagnosing", at=earlier)
    future = await move(api, order["id"], "diagnosing", at=(clock.now() + timedelta(hours=1)).isoformat())
    eta_before = await api.call("POST", f"/work-orders/{order['id']}/eta", json={"eta": earlier})
    clock.advance(minutes=10)
    on_time = await move(api, order["id"], "diagnosing", at=(clock.now() - timedelta(minutes=3)).isoformat())
    await WorkOrder.filter(id=order["id"]).update(stage="delivered", closed_at=clock.now())
    after_delivery = await api.call("POST", f"/work-orders/{order['id']}/extra-items", json=BRAKES)

    assert backdated.status == 422 and "at" in backdated.body["fields"]
    assert future.status == 422 and "at" in future.body["fields"]
    assert eta_before.status == 422 and "eta" in eta_before.body["fields"]
    assert on_time.status == 200
    assert datetime.fromisoformat(on_time.body["stage_since"]) == clock.now() - timedelta(minutes=3)
    assert on_time.body["timeline"][-1]["at"] == on_time.body["stage_since"]
    assert after_delivery.status == 409 and "delivered" in after_delivery.body["message"]


async def test_creates_are_refused_for_unknown_plates_and_cars_already_in(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    await make_workshop()
    await created(api, number="RO-1")

    unknown = await api.call("POST", "/work-orders", json={"plate": "粤B99999"})
    second = await api.call("POST", "/work-orders", json={"plate": PLATE, "number": "RO-2"})
    bad_advisor = await api.call("POST", "/work-orders", json={"plate": PLATE, "advisor_id": 999})

    assert unknown.status == 404 and unknown.body["fields"] == {"plate": "not on record"}
    assert second.status == 409 and "already in the workshop" in second.body["message"]
    assert bad_advisor.status == 422 and "advisor_id" in bad_advisor.body["fields"]
    assert await WorkOrder.all().count() == 1


async def test_settlements_are_one_per_invoice_and_per_order(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    shop = await make_workshop()
    order = await created(api)
    _, other_car = await factories.customer_with_car(shop.store, phone="13700000001", plate="粤B54321")
    other = (await api.call("POST", "/work-orders", json={"plate": other_car.plate})).body
    path = f"/work-orders/{order['id']}/settlement"

    bad_amount = await api.call("POST", path, json={"invoice_no": "INV-1", "amount": "1.234"})
    first = await api.call("POST", path, json={"invoice_no": "INV-1", "amount": "300"})
    other_invoice = await api.call("POST", path, json={"invoice_no": "INV-2", "amount": "300"})
    reused = await api.call(
        "POST", f"/work-orders/{other['id']}/settlement", json={"invoice_no": "INV-1", "amount": "300"}
    )

    assert bad_amount.status == 422 and "amount" in bad_amount.body["fields"]
    assert first.status == 201 and first.body["amount"] == "300.00"
    assert other_invoice.status == 409 and reused.status == 409
    assert await Settlement.all().count() == 1


async def test_staff_changes_are_authored_by_the_staff_member(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    team = await workshop_team(api.bot)
    token = await api.token_for(team.advisor)

    opened = await api.call("POST", "/work-orders", json={"plate": PLATE}, token=token)
    moved = await move(api, opened.body["id"], "diagnosing", token=token)
    item = await api.call("POST", f"/work-orders/{opened.body['id']}/extra-items", json=BRAKES, token=token)

    assert opened.status == 201 and moved.status == 200 and item.status == 201
    assert [(c["source"], c["staff_id"]) for c in moved.body["timeline"]] == [
        ("staff", team.advisor.id),
        ("staff", team.advisor.id),
    ]
    assert (item.body["source"], item.body["staff_id"]) == ("staff", team.advisor.id)
    assert (await ExtraItem.get(id=item.body["id"])).staff_id == team.advisor.id  # type: ignore[attr-defined]


async def test_advisors_reach_only_their_customers_orders(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    team = await workshop_team(api.bot)
    mine = await created(api)
    theirs = (await api.call("POST", "/work-orders", json={"plate": "粤B22222"})).body
    advisor = await api.token_for(team.advisor)
    dispatcher = await api.token_for(team.staff[Role.RESCUE_DISPATCHER])

    listed = await api.call("GET", "/work-orders", token=advisor)
    read = await api.call("GET", f"/work-orders/{theirs['id']}", token=advisor)
    moved = await move(api, theirs["id"], "diagnosing", token=advisor)
    other_plate = await api.call("POST", "/work-orders", json={"plate": "粤A33333"}, token=advisor)
    settle = await api.call(
        "POST",
        f"/work-orders/{mine['id']}/settlement",
        json={"invoice_no": "X1", "amount": "1"},
        token=advisor,
    )
    not_for_dispatchers = await api.call("GET", "/work-orders", token=dispatcher)

    assert [o["id"] for o in listed.body["items"]] == [mine["id"]]
    assert read.status == 404 and moved.status == 404 and other_plate.status == 404
    assert settle.status == 403 and not_for_dispatchers.status == 403
    assert (await WorkOrder.get(id=theirs["id"])).stage == "received"


async def test_work_orders_are_listed_by_store_stage_plate_and_openness(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    team = await workshop_team(api.bot)
    mine = await created(api)
    theirs = (await api.call("POST", "/work-orders", json={"plate": "粤B22222"})).body
    elsewhere = (await api.call("POST", "/work-orders", json={"plate": "粤A33333"})).body
    await move(api, mine["id"], "diagnosing")
    await WorkOrder.filter(id=theirs["id"]).update(stage="delivered", closed_at=api.bot.clock.now())

    async def ids(**params: str) -> list[int]:
        answer = await api.call("GET", "/work-orders", params=params)
        assert answer.status == 200, answer.body
        return sorted(o["id"] for o in answer.body["items"])

    assert await ids(store_id=str(team.store.id)) == sorted([mine["id"], theirs["id"]])
    assert await ids(stage="diagnosing") == [mine["id"]]
    assert await ids(plate="粤A33333") == [elsewhere["id"]]
    assert await ids(open="true") == sorted([mine["id"], elsewhere["id"]])
    assert await ids(open="false") == [theirs["id"]]
    assert (await api.call("GET", "/work-orders", params={"stage": "修好了"})).status == 422


async def test_appointments_are_listed_by_store_day_and_status_within_scope(make_bot: MakeBot) -> None:
    api = await workshop_api(make_bot)
    team = await workshop_team(api.bot)
    now = api.bot.clock.now()
    mine = (await book_for(await shop_of(team), MONDAY, time(10, 0), now=now)).appointment
    tuesday = (
        await book_for(await shop_of(team), TUESDAY, time(15, 0), now=now, request_key="t")
    ).appointment
    theirs = (await book_for(await shop_of(team, colleague=True), MONDAY, time(10, 0), now=now)).appointment
    await Appointment.filter(id=tuesday.id).update(status=AppointmentStatus.CANCELLED)
    advisor = await api.token_for(team.advisor)

    async def ids(token: str | None = None, **params: str) -> list[int]:
        answer = await api.call("GET", "/appointments", params=params, token=token)
        assert answer.status == 200, answer.body
        return [a["id"] for a in answer.body["items"]]

    read = await api.call("GET", f"/appointments/{tuesday.id}")
    assert await ids(day="2026-11-23") == [mine.id, theirs.id]
    assert await ids(status="cancelled") == [tuesday.id]
    assert await ids(store_id=str(team.other_store.id)) == []
    assert await ids(advisor, day="2026-11-23") == [mine.id]
    assert (await api.call("GET", f"/appointments/{theirs.id}", token=advisor)).status == 404
    assert read.status == 200 and read.body["status"] == "cancelled"
    assert (read.body["plate"], read.body["starts"], read.body["ends"]) == (PLATE, "15:00", "16:30")
    assert read.body["off_peak_bonus"] == 50 and read.body["service_label"] == "定期保养"
    assert (await api.call("GET", "/appointments", params={"day": "23/11/2026"})).status == 422
