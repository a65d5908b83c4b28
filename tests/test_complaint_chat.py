"""COMPLAINT in chat, end to end through `/wechat` on both backends: intake, adding, the survey."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.models import Complaint, ComplaintEvent, ComplaintPhoto, Outbox
from bot.models.complaint import ComplaintCategory, ComplaintStatus, EventKind
from bot.services.complaints import handling
from bot.services.complaints.notices import Notices
from tests.conftest import Bot, MakeBot
from tests.test_complaint_support import (
    CUSTOMER_OPENID,
    TEMPLATE_IDS,
    bound_customer,
    file_by_chat,
    make_cast,
    notices_for,
    run_job,
    templates_sent_to,
    work_order,
)


@pytest.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot(template_ids=TEMPLATE_IDS)


async def test_bound_customer_files_with_photos_and_gets_number_and_promised_time(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)

    categories = await user.click("COMPLAINT")
    assert "维修质量" in categories.text and "1." in categories.text
    assert "描述" in (await user.text("维修质量")).text
    assert "照片" in (await user.voice("保养后发动机一直有异响，来回跑了三次")).text
    assert "第1张" in (await user.image("media-1")).text
    assert "第2张" in (await user.image("media-2")).text
    summary = await user.text("完成")
    assert "维修质量" in summary.text and "照片：2张" in summary.text and "138****5678" in summary.text
    filed = await user.text("确认")

    complaint = await Complaint.get(openid=CUSTOMER_OPENID).prefetch_related("assignee")
    assert complaint.number == "C20261123-0001"
    assert complaint.number in filed.text and "11月23日 11:00" in filed.text  # 2-hour first response
    assert "李顾问" in filed.text
    assert complaint.category is ComplaintCategory.REPAIR_QUALITY
    assert complaint.description == "保养后发动机一直有异响，来回跑了三次"
    assert complaint.assignee_id == cast.advisor.id
    assert [p.media_id for p in await ComplaintPhoto.filter(complaint=complaint)] == ["media-1", "media-2"]
    kinds = [e.kind for e in await ComplaintEvent.filter(complaint=complaint)]
    assert kinds == [EventKind.CREATED, EventKind.ASSIGNED, EventKind.NOTIFIED]


async def test_advisor_is_notified_once_by_template_message(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)

    await run_job(bot)
    await run_job(bot)

    assert templates_sent_to(bot, cast.advisor) == ["TPL-ASSIGNED"]
    message = next(m for m in bot.wechat.state.messages if m.openid == cast.advisor.openid)
    assert message.payload["data"]["keyword1"]["value"] == complaint.number
    assert "新投诉" in message.payload["data"]["first"]["value"]
    remark = message.payload["data"]["remark"]["value"].splitlines()
    assert [line[:3] for line in remark] == ["类型：", "内容：", "请于1"]  # one fact a line


async def test_a_recent_work_order_can_be_named_as_what_the_complaint_is_about(bot: Bot) -> None:
    cast = await make_cast()
    customer = await bound_customer(cast)
    await work_order(customer, "W20261101-0001", bot.clock.now() - timedelta(days=22))
    recent = await work_order(customer, "W20261120-0003", bot.clock.now() - timedelta(days=3))
    user = bot.user(CUSTOMER_OPENID)
    await user.click("COMPLAINT")
    await user.text("2")
    await user.text("换的刹车片有异响")

    offer = await user.text("跳过")
    assert "1. 维修工单 W20261120-0003" in offer.text and "2. 维修工单 W20261101-0001" in offer.text
    summary = await user.text("1")
    assert "相关服务：维修工单 W20261120-0003" in summary.text
    await user.text("确认")

    complaint = await Complaint.get(openid=CUSTOMER_OPENID)
    assert (complaint.related_kind, complaint.related_id) == ("work_order", recent.id)


async def test_unbound_customer_leaves_a_phone_number(bot: Bot) -> None:
    cast = await make_cast()
    user = bot.user("o-stranger")

    await user.click("COMPLAINT")
    await user.text("2")
    await user.text("前台态度很差")
    assert "手机号" in (await user.text("跳过")).text
    assert "11位" in (await user.text("12345")).text
    assert "139****0000" in (await user.text("13900000000")).text
    await user.text("确认")

    complaint = await Complaint.get(openid="o-stranger")
    assert complaint.customer_id is None and complaint.phone == "13900000000"
    assert complaint.store_id == cast.store.id
    assert complaint.assignee_id in (cast.advisor.id, cast.other_advisor.id)  # no own advisor: least loaded


async def test_a_retried_confirmation_files_one_complaint(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    await user.click("COMPLAINT")
    await user.text("1")
    await user.text("配件不是原厂的")
    await user.text("跳过")

    first = await user.text("确认", msg_id=424242)
    again = await user.text("确认", msg_id=424242)  # WeChat's retry of the same message

    assert first.text == again.text
    assert await Complaint.filter(openid=CUSTOMER_OPENID).count() == 1
    assert await Outbox.filter(openid=cast.advisor.openid).count() == 1


async def test_an_open_complaint_is_added_to_instead_of_duplicated(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    complaint = await file_by_chat(bot, user)

    offer = await user.text("我要投诉")
    assert complaint.number in offer.text and "1." in offer.text
    await user.text("1")
    assert "第1张" in (await user.image("media-extra")).text
    added = await user.text("今天又响了，声音更大")

    assert "已补充" in added.text
    assert await Complaint.filter(openid=CUSTOMER_OPENID).count() == 1
    event = await ComplaintEvent.get(complaint=complaint, kind=EventKind.CUSTOMER_ADDED)
    assert event.actor_kind == "customer"
    assert event.details == {"text": "今天又响了，声音更大", "media_ids": ["media-extra"]}
    assert await ComplaintPhoto.filter(complaint=complaint, media_id="media-extra").exists()
    await run_job(bot)
    assert templates_sent_to(bot, cast.advisor) == ["TPL-ASSIGNED", "TPL-ADDED"]


async def test_customer_may_still_open_a_second_complaint(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    await file_by_chat(bot, user)

    await user.click("COMPLAINT")
    assert "维修质量" in (await user.text("2")).text  # 提交新的投诉: the categories
    await user.text("6")
    await user.text("洗车没洗干净")
    await user.text("跳过")
    await user.text("确认")

    numbers = [c.number for c in await Complaint.filter(openid=CUSTOMER_OPENID).order_by("id")]
    assert numbers == ["C20261123-0001", "C20261123-0002"]


async def test_complaint_text_with_markup_is_stored_verbatim(bot: Bot) -> None:
    """Escaping is the pages' job: the record keeps exactly what the customer wrote."""
    cast = await make_cast()
    await bound_customer(cast)
    text = '<script>alert("x")</script><b>退款</b> & 赔偿'

    complaint = await file_by_chat(bot, description=text)

    assert complaint.description == text


async def test_a_bare_digit_is_never_taken_from_another_flow(bot: Bot) -> None:
    """A customer awaiting a survey who mistypes a choice in another flow keeps that flow."""
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    complaint = await file_by_chat(bot, user)
    await handling.resolve(
        complaint.id, cast.advisor, "已更换皮带", "workmanship", notices_for(bot), bot.clock.now()
    )

    await user.click("COMPLAINT")  # a new complaint: the category choice
    reask = await user.text("4 ")  # 等待时间: understood
    assert "描述" in reask.text
    assert (await Complaint.get(id=complaint.id)).status is ComplaintStatus.RESOLVED


async def test_survey_low_score_reopens_and_high_score_closes(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    notices = notices_for(bot)
    await handling.resolve(complaint.id, cast.advisor, "已更换皮带", "workmanship", notices, bot.clock.now())
    user = bot.user(CUSTOMER_OPENID)

    reopened = await user.text("2")
    assert "重新处理" in reopened.text and "李顾问" in reopened.text
    again = await Complaint.get(id=complaint.id)
    assert again.status is ComplaintStatus.IN_PROGRESS and again.cycle == 2
    await handling.resolve(complaint.id, cast.advisor, "已再次检修", "workmanship", notices, bot.clock.now())
    closed = await user.text("满意")

    assert "感谢" in closed.text
    final = await Complaint.get(id=complaint.id)
    assert final.status is ComplaintStatus.CLOSED and final.survey_score == 5
    assert "可以为您办理" in (await user.text("5分")).text  # nothing awaits a score any more: help


async def test_unhappy_words_without_a_pending_survey_start_a_complaint(bot: Bot) -> None:
    await make_cast()
    user = bot.user("o-angry")
    assert "投诉类型" in (await user.text("我对你们的服务很不满意")).text


async def test_photos_are_copied_into_the_media_folder_by_the_job(make_bot: MakeBot, tmp_path: Path) -> None:
    bot = await make_bot(media_dir=tmp_path / "media")
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    await user.click("COMPLAINT")
    await user.text("1")
    await user.text("漆面划伤")
    await user.image("media-scratch")
    await user.text("完成")
    await user.text("确认")

    await run_job(bot)

    photo = await ComplaintPhoto.get(media_id="media-scratch")
    assert photo.fetched_at == bot.clock.now() and photo.path is not None
    stored = tmp_path / "media" / photo.path
    assert stored.read_bytes().startswith(b"\x89PNG")
    assert stored.stat().st_size == photo.size


async def test_notices_render_for_every_staff_template(bot: Bot) -> None:
    """Every staff notice template renders with what the services pass (no missing variable)."""
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    notices: Notices = notices_for(bot)
    for name in TEMPLATE_IDS:
        if name == "complaint_update":
            continue
        text, data = await notices.render(
            f"staff_notices/{name}", complaint, recipient=cast.advisor, added="又响了", photo_count=1
        )
        assert complaint.number in text and data["keyword1"] == complaint.number
