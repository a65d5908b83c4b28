"""The complaint services the pages and the API will call: rules, typed errors, queries, figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.models import Complaint, ComplaintEvent, ComplaintPhoto, Outbox, Role, Staff, Vehicle
from bot.models.complaint import AppendOnlyError, ComplaintCategory, ComplaintStatus, EventKind
from bot.services import media
from bot.services.complaints import assignment, escalation, handling, intake, photos, queries, survey
from bot.services.complaints.errors import (
    ComplaintNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from bot.services.complaints.figures import complaint_figures
from bot.services.complaints.intake import NewComplaint
from bot.services.complaints.queries import ComplaintFilter
from bot.services.complaints.sla import Policy, Urgency, set_policy
from bot.services.complaints.survey import SurveyAnswer, parse_answer
from bot.wechat.client import WeChatClient
from bot.wechat.fake import RunningFakeWeChat
from tests import factories
from tests.backends import Backend
from tests.test_complaint_support import (
    NOTICES,
    Cast,
    bound_customer,
    file_direct,
    hours,
    make_cast,
    work_order,
)

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
async def cast(db: Backend) -> Cast:
    return await make_cast()


# --- assignment ---


async def test_own_advisor_on_duty_gets_the_complaint(cast: Cast, clock: FrozenClock) -> None:
    customer = await bound_customer(cast)
    complaint = await file_direct(clock.now(), customer=customer)
    assert complaint.assignee_id == cast.advisor.id
    assigned = await ComplaintEvent.get(complaint_id=complaint.id, kind=EventKind.ASSIGNED)
    assert assigned.details["reason"] == "own_advisor"


async def test_off_duty_advisor_hands_over_to_the_least_loaded_then_round_robin(
    cast: Cast, clock: FrozenClock
) -> None:
    third = await factories.staff(cast.store, name="周顾问", phone="13900009999")
    await Staff.filter(id=cast.advisor.id).update(on_duty=False)
    customer = await bound_customer(cast)
    for _ in range(2):  # the other advisor already carries two open complaints
        await Complaint.filter(id=(await file_direct(clock.now(), openid="o-old")).id).update(
            assignee_id=cast.other_advisor.id
        )

    assignees = []
    for n in range(4):
        clock.advance(minutes=1)
        complaint = await file_direct(clock.now(), customer=customer if n == 0 else None, openid=f"o-{n}")
        assignees.append(complaint.assignee_id)

    # fewest open first (the advisor is off duty, even for their own customer); at 2 open each,
    # the tie goes to whoever was assigned least recently
    assert assignees == [third.id, third.id, cast.other_advisor.id, third.id]


async def test_nobody_on_duty_goes_to_the_service_manager(cast: Cast, clock: FrozenClock) -> None:
    await Staff.filter(role=Role.ADVISOR).update(on_duty=False)
    complaint = await file_direct(clock.now())
    assert complaint.assignee_id == cast.service_manager.id


async def test_an_empty_store_leaves_it_unassigned_but_on_record(db: Backend, clock: FrozenClock) -> None:
    await factories.store()
    complaint = await file_direct(clock.now())
    assert complaint.assignee_id is None
    event = await ComplaintEvent.get(complaint_id=complaint.id, kind=EventKind.ASSIGNED)
    assert event.details == {"to": None, "reason": "nobody_available"}


async def test_staff_without_openid_is_recorded_as_not_notified(cast: Cast, clock: FrozenClock) -> None:
    await Staff.filter(id=cast.advisor.id).update(openid=None)
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast))
    notified = await ComplaintEvent.get(complaint_id=complaint.id, kind=EventKind.NOTIFIED)
    assert notified.details["not_notified"] == "no_openid"
    assert await Outbox.all().count() == 0


async def test_a_manager_reassigns_and_the_new_assignee_is_notified(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast))

    moved = await assignment.reassign(
        complaint.id, cast.other_advisor.id, cast.service_manager, NOTICES, clock.now(), reason="李顾问休假"
    )

    assert moved.assignee_id == cast.other_advisor.id
    event = await ComplaintEvent.get(complaint_id=complaint.id, kind=EventKind.REASSIGNED)
    assert event.actor_id == cast.service_manager.id and event.actor_name == "赵客服经理"
    assert event.details == {
        "previous": cast.advisor.id,
        "to": cast.other_advisor.id,
        "to_name": "王顾问",
        "reason": "李顾问休假",
    }
    assert (
        await Outbox.filter(openid=cast.other_advisor.openid, template_name="complaint_assigned").count() == 1
    )


async def test_reassignment_refusals_say_why_and_change_nothing(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast))
    elsewhere = await make_cast("GZ01", phone_prefix="1380000")

    with pytest.raises(NotAllowed):  # the assignee may see it but not move it
        await assignment.reassign(complaint.id, cast.other_advisor.id, cast.advisor, NOTICES, clock.now())
    with pytest.raises(ComplaintNotFound):  # another store's manager does not even see it
        await assignment.reassign(
            complaint.id, cast.other_advisor.id, elsewhere.service_manager, NOTICES, clock.now()
        )
    with pytest.raises(InvalidInput) as wrong_store:
        await assignment.reassign(
            complaint.id, elsewhere.advisor.id, cast.service_manager, NOTICES, clock.now()
        )
    assert wrong_store.value.field == "to_staff_id"
    with pytest.raises(InvalidInput):
        await assignment.reassign(complaint.id, cast.advisor.id, cast.service_manager, NOTICES, clock.now())

    assert (await Complaint.get(id=complaint.id)).assignee_id == cast.advisor.id
    assert not await ComplaintEvent.filter(kind=EventKind.REASSIGNED).exists()


# --- handling ---


async def test_response_reaches_the_customer_and_starts_the_clock_once(
    cast: Cast, clock: FrozenClock
) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast), openid="o-c")
    clock.advance(minutes=30)
    await handling.respond(complaint.id, cast.advisor, "您好，我是李顾问，马上为您处理", NOTICES, clock.now())
    clock.advance(minutes=30)
    await handling.respond(complaint.id, cast.advisor, "已安排技师复检", NOTICES, clock.now())

    again = await Complaint.get(id=complaint.id)
    assert again.status is ComplaintStatus.IN_PROGRESS
    assert again.first_response_at == complaint.created_at + timedelta(minutes=30)
    pushed = await Outbox.filter(openid="o-c").order_by("id")
    assert [row.template_name for row in pushed] == ["complaint_update", "complaint_update"]
    assert "马上为您处理" in pushed[0].text and complaint.number in pushed[0].text


async def test_handling_refusals(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast))

    with pytest.raises(ComplaintNotFound):  # an advisor never sees another advisor's complaint
        await handling.respond(complaint.id, cast.other_advisor, "我来", NOTICES, clock.now())
    with pytest.raises(InvalidInput) as empty:
        await handling.respond(complaint.id, cast.advisor, "   ", NOTICES, clock.now())
    assert empty.value.field == "text" and empty.value.code == "invalid_input"
    with pytest.raises(InvalidInput) as cause:
        await handling.resolve(complaint.id, cast.advisor, "已处理", "bad-luck", NOTICES, clock.now())
    assert cause.value.field == "cause"
    await handling.resolve(complaint.id, cast.advisor, "已处理", "process", NOTICES, clock.now())
    with pytest.raises(InvalidState):
        await handling.resolve(complaint.id, cast.advisor, "再次处理", "process", NOTICES, clock.now())
    with pytest.raises(InvalidState):
        await handling.respond(complaint.id, cast.advisor, "补充", NOTICES, clock.now())
    await handling.add_note(complaint.id, cast.advisor, "客户已电话确认", clock.now())  # notes: any time

    kinds = [e.kind for e in await ComplaintEvent.filter(complaint_id=complaint.id).order_by("id")]
    assert kinds[-2:] == [EventKind.RESOLVED, EventKind.NOTED]


async def test_resolving_counts_as_the_first_response(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast))
    clock.advance(hours=1)
    resolved = await handling.resolve(
        complaint.id, cast.service_manager, "当面致歉并退款", "pricing", NOTICES, clock.now()
    )
    assert resolved.first_response_at == resolved.resolved_at == resolved.first_resolved_at == clock.now()
    assert resolved.autoclose_at == clock.now() + timedelta(days=3)


async def test_the_trail_is_append_only(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now())
    event = await ComplaintEvent.filter(complaint_id=complaint.id).first()
    assert event is not None
    event.details = {"forged": True}
    with pytest.raises(AppendOnlyError):
        await event.save()
    with pytest.raises(AppendOnlyError):
        await event.delete()
    assert (await ComplaintEvent.get(id=event.id)).details != {"forged": True}


# --- survey ---


@pytest.mark.parametrize(
    ("text", "score"),
    [("5", 5), ("４分", 4), (" 2分。", 2), ("满意", 5), ("非常满意！", 5), ("不满意", 1), ("不太满意", 1)],
)
def test_survey_answers_are_read(text: str, score: int) -> None:
    answer = parse_answer(text)
    assert answer is not None and answer.score == score


@pytest.mark.parametrize("text", ["6", "0", "一般", "12", "5分钟"])
def test_other_texts_are_not_survey_answers(text: str) -> None:
    assert parse_answer(text) is None


async def test_a_repeated_survey_answer_changes_nothing(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), openid="o-s")
    await handling.resolve(complaint.id, cast.service_manager, "已处理", "process", NOTICES, clock.now())
    await survey.answer(complaint.id, "o-s", SurveyAnswer(4, "4"), NOTICES, clock.now())
    with pytest.raises(InvalidState):
        await survey.answer(complaint.id, "o-s", SurveyAnswer(1, "1"), NOTICES, clock.now())
    closed = await Complaint.get(id=complaint.id)
    assert closed.status is ComplaintStatus.CLOSED and closed.survey_score == 4


# --- policy ---


async def test_store_policy_sets_the_deadlines_of_new_complaints(cast: Cast, clock: FrozenClock) -> None:
    await set_policy(
        cast.store.id,
        Policy(response_hours=1, resolution_hours=12, warning_hours=3, level2_hours=24),
        cast.aftersales_manager,
    )
    complaint = await file_direct(clock.now())
    assert complaint.response_due_at - complaint.created_at == hours(1)
    assert complaint.due_at - complaint.created_at == hours(12)
    assert complaint.warn_at - complaint.created_at == hours(9)
    assert complaint.level2_at - complaint.created_at == hours(24)


async def test_bad_policies_are_refused(cast: Cast) -> None:
    with pytest.raises(NotAllowed):
        await set_policy(cast.store.id, Policy(), cast.advisor)
    with pytest.raises(InvalidInput) as bad:
        await set_policy(cast.store.id, Policy(resolution_hours=24, level2_hours=12), cast.service_manager)
    assert bad.value.field == "level2_hours"
    assert [p.field for p in Policy(response_hours=0, warning_hours=30).problems()] == [
        "response_hours",
        "warning_hours",
    ]


# --- queries ---


async def test_who_sees_what(cast: Cast, clock: FrozenClock) -> None:
    mine = await file_direct(clock.now(), customer=await bound_customer(cast))
    await Staff.filter(id=cast.advisor.id).update(on_duty=False)
    theirs = await file_direct(clock.now(), openid="o-2")
    elsewhere = await make_cast("GZ01", phone_prefix="1380000")
    far = await file_direct(
        clock.now(), customer=await bound_customer(elsewhere, "o-gz", phone="13811112222")
    )
    everything = ComplaintFilter()

    async def numbers(viewer: Staff) -> set[str]:
        page = await queries.list_complaints(viewer, everything, clock.now())
        return {row.number for row in page.rows}

    assert await numbers(cast.advisor) == {mine.number}
    assert await numbers(cast.other_advisor) == {theirs.number}
    assert await numbers(cast.service_manager) == {mine.number, theirs.number}
    assert await numbers(cast.aftersales_manager) == {mine.number, theirs.number}
    assert await numbers(elsewhere.service_manager) == {far.number}
    assert await numbers(cast.gm) == {mine.number, theirs.number, far.number}
    dispatcher = await factories.staff(cast.store, Role.RESCUE_DISPATCHER, name="调度", phone="13900008888")
    assert await numbers(dispatcher) == set()
    with pytest.raises(ComplaintNotFound):
        await queries.complaint_detail(cast.advisor, theirs.id, clock.now())


async def test_my_open_complaints_carry_their_deadlines(cast: Cast, clock: FrozenClock) -> None:
    customer = await bound_customer(cast)
    first = await file_direct(clock.now(), customer=customer)
    clock.advance(hours=1)
    second = await file_direct(clock.now(), customer=customer)
    await handling.respond(second.id, cast.advisor, "收到", NOTICES, clock.now())
    clock.advance(hours=22, minutes=30)

    rows = await queries.my_open_complaints(cast.advisor, clock.now())

    assert [row.number for row in rows] == [first.number, second.number]  # nearest deadline first
    assert rows[0].response.urgency is Urgency.OVERDUE and rows[0].resolution.urgency is Urgency.DUE_SOON
    assert rows[0].resolution.remaining == timedelta(minutes=30)
    assert rows[1].response.urgency is Urgency.MET and rows[1].resolution.urgency is Urgency.DUE_SOON
    assert rows[0].phone == "138****5678" and rows[0].assignee_name == "李顾问"


async def test_list_filters_and_pages(cast: Cast, clock: FrozenClock) -> None:
    customer = await bound_customer(cast)
    old = await file_direct(clock.now(), customer=customer)
    clock.advance(days=2)
    new = await file_direct(clock.now(), openid="o-new")
    await escalation.run(NOTICES, clock.now())  # `old` is 48 h old: escalated twice
    await handling.resolve(new.id, cast.service_manager, "已处理", "process", NOTICES, clock.now())
    viewer, now = cast.service_manager, clock.now()

    async def numbers(**filters: object) -> list[str]:
        page = await queries.list_complaints(viewer, ComplaintFilter(**filters), now)  # type: ignore[arg-type]
        return [row.number for row in page.rows]

    assert await numbers() == [new.number, old.number]  # newest first
    assert await numbers(statuses=(ComplaintStatus.RESOLVED,)) == [new.number]
    assert await numbers(escalated=True) == [old.number]
    assert await numbers(escalated=False) == [new.number]
    assert await numbers(assignee_id=cast.advisor.id) == [old.number]
    assert await numbers(created_from=now - hours(1)) == [new.number]
    assert await numbers(created_to=now - hours(1), store_id=cast.store.id) == [old.number]
    page = await queries.list_complaints(viewer, ComplaintFilter(), now, limit=1, offset=1)
    assert page.total == 2 and [r.number for r in page.rows] == [old.number]
    with pytest.raises(InvalidInput):
        await queries.list_complaints(viewer, ComplaintFilter(created_from=now, created_to=now), now)
    with pytest.raises(InvalidInput):
        await queries.list_complaints(viewer, ComplaintFilter(), now, limit=1000)

    board = await queries.escalation_board(viewer, now)
    assert [(row.number, row.escalation_level) for row in board] == [(old.number, 2)]
    assert await queries.escalation_board(cast.advisor, now) != []  # their own escalated complaint
    assert await queries.escalation_board(cast.other_advisor, now) == []


async def test_detail_has_the_whole_trail_and_full_phone(cast: Cast, clock: FrozenClock) -> None:
    complaint = await file_direct(clock.now(), customer=await bound_customer(cast), description="<b>异响</b>")
    await handling.add_note(complaint.id, cast.advisor, "已约客户明早到店", clock.now())

    detail = await queries.complaint_detail(cast.service_manager, complaint.id, clock.now())

    assert detail.description == "<b>异响</b>" and detail.phone == "13812345678"
    assert [e.kind for e in detail.events] == [
        EventKind.CREATED,
        EventKind.ASSIGNED,
        EventKind.NOTIFIED,
        EventKind.NOTED,
    ]
    assert detail.events[0].actor_kind == "customer" and detail.events[-1].actor_name == "李顾问"
    candidates = await queries.reassign_candidates(cast.service_manager, complaint.id)
    assert cast.advisor.id not in {s.id for s in candidates} and cast.other_advisor.id in {
        s.id for s in candidates
    }
    assert await queries.reassign_candidates(cast.advisor, complaint.id) == []


# --- figures ---


async def test_figures_for_a_period(cast: Cast, clock: FrozenClock) -> None:
    start = clock.now()
    customer = await bound_customer(cast)
    for n in range(2):  # 40 serviced customers in November (3 on the 20th, 37 on the 2nd)
        await factories.customer_with_car(cast.store, phone=f"1360000{n:04d}", plate=f"粤A1{n:04d}")
    await Vehicle.all().update(last_service_date=date(2026, 11, 20))
    for n in range(37):
        other, _ = await factories.customer_with_car(
            cast.store, phone=f"1350000{n:04d}", plate=f"粤C1{n:04d}"
        )
        await Vehicle.filter(customer_id=other.id).update(last_service_date=date(2026, 11, 2))

    fast = await file_direct(clock.now(), customer=customer)  # answered in 30 min, resolved in 5 h
    slow = await file_direct(clock.now(), openid="o-slow")  # answered in 90 min, escalated, resolved in 30 h
    await file_direct(clock.now(), openid="o-open")  # never answered, escalated twice
    clock.advance(minutes=30)
    await handling.respond(fast.id, cast.advisor, "收到", NOTICES, clock.now())
    clock.advance(hours=1)
    await handling.respond(slow.id, cast.service_manager, "收到", NOTICES, clock.now())
    clock.advance(hours=3, minutes=30)
    await handling.resolve(fast.id, cast.advisor, "已处理", "workmanship", NOTICES, clock.now())
    await survey.answer(fast.id, fast.openid, SurveyAnswer(5, "5"), NOTICES, clock.now())
    clock.set(start + hours(25))
    await escalation.run(NOTICES, clock.now())
    clock.set(start + hours(30))
    await handling.resolve(slow.id, cast.service_manager, "已退款", "pricing", NOTICES, clock.now())
    await survey.answer(slow.id, slow.openid, SurveyAnswer(2, "2分"), NOTICES, clock.now())
    clock.set(start + hours(49))
    await escalation.run(NOTICES, clock.now())

    figures = await complaint_figures(
        cast.store.id, start - timedelta(days=22), start + timedelta(days=7), clock.now(), NOTICES.tz
    )

    assert (figures.complaints, figures.serviced_customers, figures.serviced_source) == (3, 40, "vehicles")
    assert figures.complaint_rate == pytest.approx(3 / 40)
    assert (figures.closed_within_24h, figures.closure_eligible) == (1, 3)
    assert figures.mean_first_response == timedelta(hours=1)  # (30 min + 90 min) / 2; the third not yet
    assert figures.escalations == {1: 2, 2: 1}  # slow and open at 24 h; open again at 48 h
    assert (figures.surveyed, figures.satisfied, figures.satisfaction) == (2, 1, 0.5)
    other_store = await complaint_figures(
        cast.store.id + 1000, start, start + hours(1), clock.now(), NOTICES.tz
    )
    assert other_store.complaints == 0 and other_store.complaint_rate is None


async def test_serviced_customers_come_from_settled_work_orders_when_there_are_any(
    cast: Cast, clock: FrozenClock
) -> None:
    customer = await bound_customer(cast)
    other, _ = await factories.customer_with_car(cast.store, phone="13600000001", plate="粤A10001")
    await work_order(customer, "W1", clock.now() - timedelta(days=3), settled=True)
    await work_order(customer, "W2", clock.now() - timedelta(days=2), settled=True)  # same customer
    await work_order(other, "W3", clock.now() - timedelta(days=1))  # not settled
    await Vehicle.all().update(last_service_date=date(2026, 11, 20))  # ignored: settlements exist
    await file_direct(clock.now(), customer=customer)

    figures = await complaint_figures(
        cast.store.id, clock.now() - timedelta(days=7), clock.now() + hours(1), clock.now(), NOTICES.tz
    )

    assert (figures.serviced_customers, figures.serviced_source, figures.complaint_rate) == (
        1,
        "work_orders",
        1.0,
    )


async def test_figures_refuse_a_backwards_period(cast: Cast, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput):
        await complaint_figures(None, clock.now(), clock.now() - hours(1), clock.now(), NOTICES.tz)


# --- intake ---


async def test_filing_is_idempotent_by_intake_key_even_concurrently(cast: Cast, clock: FrozenClock) -> None:
    customer = await bound_customer(cast)
    new = NewComplaint(
        openid="o-twice",
        category=ComplaintCategory.PARTS,
        description="配件与报价不符",
        intake_key="o-twice:98765",
        customer_id=customer.id,
        own_advisor_id=cast.advisor.id,
    )

    results = await asyncio.gather(*(intake.file_complaint(new, NOTICES, clock.now()) for _ in range(4)))

    assert sum(r.created for r in results) == 1
    assert len({r.complaint.id for r in results}) == 1
    assignees = [r.complaint.assignee for r in results]  # loaded for the reply, every time
    assert [assignee.name if assignee else None for assignee in assignees] == ["李顾问"] * 4
    assert await Complaint.all().count() == 1
    assert await Outbox.filter(openid=cast.advisor.openid).count() == 1


async def test_concurrent_filings_get_distinct_numbers(cast: Cast, clock: FrozenClock) -> None:
    filed = await asyncio.gather(*(file_direct(clock.now(), openid=f"o-{n}") for n in range(6)))
    assert sorted(c.number for c in filed) == [f"C20261123-{n:04d}" for n in range(1, 7)]


async def test_the_number_follows_the_local_day(cast: Cast, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))  # 00:30 on the 24th in Shanghai
    assert (await file_direct(clock.now())).number == "C20261124-0001"


async def test_an_unbound_complaint_needs_a_phone(cast: Cast, clock: FrozenClock) -> None:
    new = NewComplaint(openid="o-x", category=ComplaintCategory.OTHER, description="差", intake_key="k1")
    with pytest.raises(InvalidInput) as missing:
        await intake.file_complaint(new, NOTICES, clock.now())
    assert missing.value.field == "phone"
    assert await Complaint.all().count() == 0


# --- photos ---


async def test_a_failing_photo_fetch_is_retried_then_given_up_when_wechat_forgot_it(
    cast: Cast,
    clock: FrozenClock,
    fake_wechat: RunningFakeWeChat,
    wechat_client: WeChatClient,
    tmp_path: Path,
) -> None:
    complaint = await file_direct(clock.now())
    await photos.attach(complaint, [photos.IncomingPhoto("media-lost")], clock.now())
    fake_wechat.state.inject(40007)  # invalid media_id: WeChat no longer has it

    first = await photos.fetch_pending(wechat_client, tmp_path, clock.now())
    again = await photos.fetch_pending(wechat_client, tmp_path, clock.now())  # not due yet: backing off
    clock.advance(days=3, minutes=1)
    last = await photos.fetch_pending(wechat_client, tmp_path, clock.now())

    assert (first.retried, again.retried, last.given_up) == (1, 0, 1)
    photo = await ComplaintPhoto.get(media_id="media-lost")
    assert (
        photo.gave_up_at == clock.now() and photo.fetched_at is None and "40007" in (photo.last_error or "")
    )
    assert (await photos.fetch_pending(wechat_client, tmp_path, clock.now())).given_up == 0


async def test_stored_media_paths_cannot_leave_the_media_folder(tmp_path: Path) -> None:
    assert media.resolve(tmp_path, "complaints/1/a.png") == tmp_path.resolve() / "complaints/1/a.png"
    with pytest.raises(media.MediaError):
        media.resolve(tmp_path, "../../etc/passwd")
