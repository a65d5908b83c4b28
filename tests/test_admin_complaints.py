"""The complaint pages over real HTTP, on both backends: who sees which complaint, what the forms
do (and refuse), SLA colours from the injected clock, the board's figures, escaping, photos."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from admin.web.complaints import countdown_text, tone
from bot.models import Complaint, ComplaintEvent, ComplaintPhoto, Outbox, Staff
from bot.models.complaint import ComplaintStatus, EventKind
from bot.services.complaints import escalation, handling, survey
from bot.services.complaints.survey import SurveyAnswer
from tests.conftest import Bot, MakeBot
from tests.test_admin_support import Team, log_in, make_team, post_form
from tests.test_complaint_support import NOTICES, file_direct, work_order

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass(frozen=True)
class Filed:
    """One complaint per advisor of the team: mine (store A), a colleague's (A), store B's."""

    team: Team
    mine: Complaint
    colleagues: Complaint
    other_store: Complaint


async def file_for_team(bot: Bot, *, description: str = "保养后发动机异响") -> Filed:
    team = await make_team()
    now = bot.clock.now()
    mine = await file_direct(now, customer=team.my_customer, openid="o-mine", description=description)
    colleagues = await file_direct(now, customer=team.colleague_customer, openid="o-colleague")
    other = await file_direct(now, customer=team.other_customer, openid="o-other")
    assert (mine.assignee_id, colleagues.assignee_id, other.assignee_id) == (
        team.advisor.id,
        team.colleague.id,
        team.other_advisor.id,
    )
    return Filed(team, mine, colleagues, other)


async def fresh_login(client: TestClient, login: str) -> None:
    client.session.cookie_jar.clear()
    assert (await log_in(client, login)).status == 303, login


async def page_text(client: TestClient, path: str, **params: str) -> str:
    answer = await client.get(path, params=params)
    assert answer.status == 200, f"{path}: {answer.status}"
    return await answer.text()


def detail(complaint: Complaint) -> str:
    return f"/admin/complaints/{complaint.id}"


async def trail_kinds(complaint: Complaint) -> list[EventKind]:
    return [e.kind for e in await ComplaintEvent.filter(complaint_id=complaint.id).order_by("id")]


# --- who sees what ---


async def test_an_advisor_sees_only_their_own_complaints(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")

    for path in ("/admin/complaints/mine", "/admin/complaints/list"):
        page = await page_text(bot.client, path)
        assert filed.mine.number in page, path
        assert filed.colleagues.number not in page and filed.other_store.number not in page, path
    assert (await bot.client.get(detail(filed.mine))).status == 200
    for other in (filed.colleagues, filed.other_store):
        answer = await bot.client.get(detail(other))
        assert answer.status == 404
        assert other.number not in await answer.text()
    for missing in (
        "/admin/complaints/999999",
        "/admin/complaints/99999999999",
        "/admin/complaints/1/photos/99999999999",
    ):
        assert (await bot.client.get(missing)).status == 404, missing


async def test_managers_see_their_stores_complaints_and_the_gm_all(bot: Bot) -> None:
    filed = await file_for_team(bot)
    for login in ("service_manager", "aftersales_manager"):
        await fresh_login(bot.client, login)
        page = await page_text(bot.client, "/admin/complaints/list")
        assert filed.mine.number in page and filed.colleagues.number in page, login
        assert filed.other_store.number not in page, login
        assert (await bot.client.get(detail(filed.colleagues))).status == 200
        assert (await bot.client.get(detail(filed.other_store))).status == 404

    await fresh_login(bot.client, "gm")
    page = await page_text(bot.client, "/admin/complaints/list")
    assert all(c.number in page for c in (filed.mine, filed.colleagues, filed.other_store))
    only_b = await page_text(bot.client, "/admin/complaints/list", store=str(filed.team.other_store.id))
    assert filed.other_store.number in only_b and filed.mine.number not in only_b
    assert (await bot.client.get(detail(filed.other_store))).status == 200


async def test_pages_not_for_the_role_answer_403(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "rescue_dispatcher")
    for path in ("/admin/complaints", "/admin/complaints/mine", detail(filed.mine)):
        assert (await bot.client.get(path)).status == 403, path

    await fresh_login(bot.client, "advisor")
    assert (await bot.client.get("/admin/complaints/board")).status == 403
    answer = await post_form(
        bot.client, detail(filed.mine) + "/reassign", {"to": str(filed.team.colleague.id)}
    )
    assert answer.status == 403
    assert (await Complaint.get(id=filed.mine.id)).assignee_id == filed.team.advisor.id


async def test_the_complaints_link_leads_each_role_to_its_page(bot: Bot) -> None:
    await file_for_team(bot)
    for login, landing in (("advisor", "/admin/complaints/mine"), ("gm", "/admin/complaints/board")):
        await fresh_login(bot.client, login)
        answer = await bot.client.get("/admin/complaints", allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == landing


# --- the forms ---


async def test_a_response_goes_to_the_customer_once_and_the_page_redirects(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")

    answer = await post_form(
        bot.client,
        detail(filed.mine) + "/respond",
        {"text": "您好，今天下午安排技师复查。"},
        token_from=detail(filed.mine),
    )

    assert answer.status == 303 and answer.headers["Location"] == detail(filed.mine)
    page = await page_text(bot.client, detail(filed.mine))  # following the redirect: a GET
    assert "已发送回复" in page and "今天下午安排技师复查" in page
    await bot.client.get(detail(filed.mine))  # a refresh sends nothing
    sent = await Outbox.filter(openid="o-mine").values_list("text", flat=True)
    assert len(sent) == 1 and "今天下午安排技师复查" in sent[0]
    complaint = await Complaint.get(id=filed.mine.id)
    assert complaint.status is ComplaintStatus.IN_PROGRESS and complaint.first_response_at == bot.clock.now()
    responded = await ComplaintEvent.get(complaint_id=complaint.id, kind=EventKind.RESPONDED)
    assert responded.actor_id == filed.team.advisor.id


async def test_a_form_without_its_csrf_token_changes_nothing(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    before = await trail_kinds(filed.mine)
    for action, form in (
        ("respond", {"text": "伪造的回复"}),
        ("note", {"note": "伪造的备注"}),
        ("resolve", {"resolution": "伪造的结果", "cause": "other"}),
    ):
        for token in ({}, {"_csrf": "forged"}):
            answer = await bot.client.post(
                detail(filed.mine) + f"/{action}", data={**form, **token}, allow_redirects=False
            )
            assert answer.status == 403, action
    assert await trail_kinds(filed.mine) == before
    assert not await Outbox.filter(openid="o-mine").exists()
    assert (await Complaint.get(id=filed.mine.id)).status is ComplaintStatus.OPEN


async def test_acting_on_another_advisors_complaint_is_404_and_changes_nothing(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    before = await trail_kinds(filed.colleagues)
    for action, form in (
        ("respond", {"text": "不是我的投诉"}),
        ("note", {"note": "不是我的投诉"}),
        ("resolve", {"resolution": "不是我的投诉", "cause": "other"}),
    ):
        assert (await post_form(bot.client, detail(filed.colleagues) + f"/{action}", form)).status == 404
    assert await trail_kinds(filed.colleagues) == before
    assert not await Outbox.filter(openid="o-colleague").exists()


async def test_bad_input_is_shown_with_what_was_typed_and_changes_nothing(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    before = await trail_kinds(filed.mine)

    empty = await post_form(bot.client, detail(filed.mine) + "/respond", {"text": "   "})
    no_cause = await post_form(
        bot.client, detail(filed.mine) + "/resolve", {"resolution": "已更换刹车片", "cause": "bogus"}
    )
    too_long = await post_form(bot.client, detail(filed.mine) + "/note", {"note": "长" * 2001})
    control = await post_form(bot.client, detail(filed.mine) + "/respond", {"text": "a\x00b"})

    assert empty.status == no_cause.status == too_long.status == control.status == 422
    assert "请填写回复内容" in await empty.text()
    refused = await no_cause.text()
    assert "原因分类无效" in refused and "已更换刹车片" in refused  # the typed text is kept
    assert "最多2000个字符" in await too_long.text()
    assert await trail_kinds(filed.mine) == before
    assert not await Outbox.filter(openid="o-mine").exists()


async def test_resolving_asks_for_the_survey_and_closes_the_forms(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    resolved = await post_form(
        bot.client,
        detail(filed.mine) + "/resolve",
        {"resolution": "已免费更换刹车片并致歉", "cause": "workmanship"},
    )
    assert resolved.status == 303

    page = await page_text(bot.client, detail(filed.mine))
    assert "已免费更换刹车片并致歉" in page and "维修工艺" in page and "待客户评价" in page
    assert "发送回复" not in page and "标记为已解决" not in page
    assert "添加备注" in page  # notes stay possible, for the record
    complaint = await Complaint.get(id=filed.mine.id)
    assert complaint.status is ComplaintStatus.RESOLVED and complaint.cause == "workmanship"

    late = await post_form(bot.client, detail(filed.mine) + "/respond", {"text": "迟到的回复"})
    assert late.status == 303
    assert "当前状态不允许此操作" in await page_text(bot.client, detail(filed.mine))
    assert await Outbox.filter(openid="o-mine").count() == 1  # only the resolution
    assert filed.mine.number not in await page_text(bot.client, "/admin/complaints/mine")


async def test_a_note_stays_internal(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    assert (
        await post_form(bot.client, detail(filed.mine) + "/note", {"note": "客户下午三点后方便接电话"})
    ).status == 303
    assert "客户下午三点后方便接电话" in await page_text(bot.client, detail(filed.mine))
    assert not await Outbox.filter(openid="o-mine").exists()


async def test_a_manager_reassigns_within_the_store(bot: Bot) -> None:
    filed = await file_for_team(bot)
    team = filed.team
    await fresh_login(bot.client, "service_manager")
    page = await page_text(bot.client, detail(filed.mine))
    assert "转派" in page and team.other_advisor.name not in page  # only store A's staff offered

    elsewhere = await post_form(
        bot.client, detail(filed.mine) + "/reassign", {"to": str(team.other_advisor.id)}
    )
    assert elsewhere.status == 422 and "只能转派给本店" in await elsewhere.text()
    assert (
        await post_form(bot.client, detail(filed.other_store) + "/reassign", {"to": str(team.colleague.id)})
    ).status == 404

    moved = await post_form(
        bot.client, detail(filed.mine) + "/reassign", {"to": str(team.colleague.id), "reason": "李顾问休假"}
    )
    assert moved.status == 303
    assert (await Complaint.get(id=filed.mine.id)).assignee_id == team.colleague.id
    page = await page_text(bot.client, detail(filed.mine))
    assert "转派给 周顾问" in page and "李顾问休假" in page

    await fresh_login(bot.client, "advisor")  # no longer the advisor's
    assert (await bot.client.get(detail(filed.mine))).status == 404


# --- SLA colours, board, figures ---


def test_sla_colours_follow_the_thresholds() -> None:
    assert tone(timedelta(hours=6, seconds=1)) == "ok"
    assert tone(timedelta(hours=6)) == tone(timedelta(hours=2)) == "warn"
    assert tone(timedelta(hours=1, minutes=59)) == tone(timedelta(0)) == tone(-timedelta(hours=3)) == "danger"
    assert countdown_text(3 * 3600 + 5 * 60) == "剩 3小时05分"
    assert countdown_text(-(26 * 3600)) == "超时 1天2小时"
    assert countdown_text(30) == "剩 不到1分钟"


async def test_the_countdown_is_coloured_from_the_injected_clock(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    page = await page_text(bot.client, "/admin/complaints/mine")
    assert 'class="sla sla-ok" data-countdown="86400"' in page  # resolution: 24 h left
    assert 'class="sla sla-warn" data-countdown="7200"' in page  # first response: 2 h left

    bot.clock.advance(hours=23)
    await fresh_login(bot.client, "advisor")  # the session has long expired
    page = await page_text(bot.client, "/admin/complaints/mine")
    assert 'class="sla sla-danger" data-countdown="3600"' in page and "剩 1小时00分" in page
    assert 'data-countdown="-75600"' in page and "超时 21小时00分" in page  # response overdue
    assert filed.mine.number in page


async def test_the_board_shows_escalations_and_the_figures(bot: Bot) -> None:
    filed = await file_for_team(bot)
    bot.clock.advance(hours=24, minutes=1)
    await escalation.run(NOTICES, bot.clock.now())
    await fresh_login(bot.client, "service_manager")

    page = await page_text(bot.client, "/admin/complaints/board")
    board = page.split("升级看板（未解决）")[1].split("投诉指标")[0]
    assert filed.mine.number in board and filed.colleagues.number in board
    assert filed.other_store.number not in board  # store B's escalation is not this board's
    assert board.count("1 级升级") == 2
    figures = figure_values(page)
    assert figures["投诉数"] == "2" and figures["1 级升级"] == "2" and figures["2 级升级"] == "0"
    assert figures["投诉抱怨率"] == "—"  # nobody was serviced this month: no rate
    assert "≤ 4%" in page and "≥ 99%" in page

    await fresh_login(bot.client, "gm")
    everything = await page_text(bot.client, "/admin/complaints/board")
    assert all(c.number in everything for c in (filed.mine, filed.colleagues, filed.other_store))
    assert figure_values(everything)["投诉数"] == "3"
    only_b = await page_text(bot.client, "/admin/complaints/board", store=str(filed.team.other_store.id))
    assert filed.other_store.number in only_b and filed.mine.number not in only_b
    assert figure_values(only_b)["投诉数"] == "1"


async def test_the_figures_against_their_targets(bot: Bot) -> None:
    filed = await file_for_team(bot)
    team, now = filed.team, bot.clock.now()
    for n, customer in enumerate((team.my_customer, team.colleague_customer)):
        await work_order(customer, f"W{n}", now, settled=True)  # two customers serviced
    advisor = await Staff.get(id=team.advisor.id)
    colleague = await Staff.get(id=team.colleague.id)
    bot.clock.advance(hours=1)
    for complaint, staff, score in ((filed.mine, advisor, 5), (filed.colleagues, colleague, 4)):
        await handling.resolve(complaint.id, staff, "已处理", "other", NOTICES, bot.clock.now())
        await survey.answer(
            complaint.id, complaint.openid, SurveyAnswer(score, str(score)), NOTICES, bot.clock.now()
        )
    await fresh_login(bot.client, "aftersales_manager")

    page = await page_text(
        bot.client, "/admin/complaints/board", **{"from": "2026-11-01", "to": "2026-11-30"}
    )

    figures = figure_values(page)
    assert figures["投诉抱怨率"] == "100.0%" and figures["投诉处理满意度"] == "100.0%"
    assert figures["24 小时结案率"] == "100.0%" and figures["平均首次响应时长"] == "1小时00分"
    assert 'class="figure missed"' in page and 'class="figure met"' in page  # rate over 4%, satisfaction met
    assert "没有已升级且未解决的投诉" in page
    assert "2026-11-01 至 2026-11-30" in page


def figure_values(page: str) -> dict[str, str]:
    """Each figure's label and value, as the board shows them."""
    found = re.findall(
        r'<span class="figure-label">([^<]+)</span>\s*<span class="figure-value">([^<]+)</span>', page
    )
    return dict(found)


async def test_list_filters(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await Complaint.filter(id=filed.colleagues.id).update(
        escalation_level=1, status=ComplaintStatus.IN_PROGRESS
    )
    await fresh_login(bot.client, "service_manager")

    def shown(page: str) -> set[str]:
        return {c.number for c in (filed.mine, filed.colleagues) if c.number in page}

    assert shown(await page_text(bot.client, "/admin/complaints/list", escalated="yes")) == {
        filed.colleagues.number
    }
    assert shown(await page_text(bot.client, "/admin/complaints/list", status="open")) == {filed.mine.number}
    assert shown(
        await page_text(bot.client, "/admin/complaints/list", assignee=str(filed.team.advisor.id))
    ) == {filed.mine.number}
    today = "2026-11-23"
    assert (
        len(shown(await page_text(bot.client, "/admin/complaints/list", **{"from": today, "to": today}))) == 2
    )
    assert not shown(await page_text(bot.client, "/admin/complaints/list", **{"from": "2026-11-24"}))
    bad = await page_text(bot.client, "/admin/complaints/list", **{"from": "2026-13-01", "to": "2026-11-01x"})
    assert "开始日期格式应为" in bad and "结束日期格式应为" in bad and len(shown(bad)) == 2


# --- escaping and photos ---


async def test_html_in_a_complaint_is_shown_escaped(bot: Bot) -> None:
    script = '<script>alert("投诉")</script><img src=x onerror=alert(1)>'
    filed = await file_for_team(bot, description=script)
    await fresh_login(bot.client, "advisor")
    await post_form(
        bot.client, detail(filed.mine) + "/note", {"note": "<b>备注</b><script>alert(2)</script>"}
    )

    for path in (detail(filed.mine), "/admin/complaints/mine", "/admin/complaints/list"):
        page = await page_text(bot.client, path)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(&#34;投诉&#34;)" in page or "&lt;script&gt;alert(" in page, path
    page = await page_text(bot.client, detail(filed.mine))
    assert "&lt;script&gt;alert(&#34;投诉&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;备注&lt;/b&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page


@pytest.fixture
async def media_bot(make_bot: MakeBot, tmp_path: Path) -> Bot:
    return await make_bot(media_dir=tmp_path / "media")


async def test_photos_are_served_only_to_those_who_may_see_the_complaint(media_bot: Bot) -> None:
    bot = media_bot
    filed = await file_for_team(bot)
    folder = bot.settings.media_dir / "complaints" / str(filed.mine.id)
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(PNG)
    now = bot.clock.now()
    stored = await ComplaintPhoto.create(
        complaint=filed.mine,
        media_id="m1",
        received_at=now,
        next_attempt_at=now,
        path=f"complaints/{filed.mine.id}/a.png",
        fetched_at=now,
    )
    pending = await ComplaintPhoto.create(
        complaint=filed.mine, media_id="m2", received_at=now, next_attempt_at=now
    )
    climbing = await ComplaintPhoto.create(
        complaint=filed.mine,
        media_id="m3",
        received_at=now,
        next_attempt_at=now,
        path="../../etc/passwd",
        fetched_at=now,
    )
    photo = f"{detail(filed.mine)}/photos/{stored.id}"

    await fresh_login(bot.client, "advisor")
    answer = await bot.client.get(photo)
    assert answer.status == 200 and answer.content_type == "image/png" and await answer.read() == PNG
    assert "照片保存中" in await page_text(bot.client, detail(filed.mine))
    for missing in (pending, climbing):
        assert (await bot.client.get(f"{detail(filed.mine)}/photos/{missing.id}")).status == 404
    assert (await bot.client.get(f"{detail(filed.colleagues)}/photos/{stored.id}")).status == 404

    await fresh_login(bot.client, "advisor-2")
    assert (await bot.client.get(photo)).status == 404


async def test_the_trail_names_who_did_what(bot: Bot) -> None:
    filed = await file_for_team(bot)
    await fresh_login(bot.client, "advisor")
    await post_form(bot.client, detail(filed.mine) + "/respond", {"text": "已联系客户"})
    page = await page_text(bot.client, detail(filed.mine))
    trail = page.split('class="trail"')[1]
    for expected in (
        "提交投诉",
        "分派给 advisor-员工",
        "客户的专属顾问",
        "回复客户",
        "已联系客户",
        "advisor-员工",
    ):
        assert expected in trail, expected
    assert trail.index("提交投诉") < trail.index("回复客户")


async def test_the_list_is_paginated(bot: Bot) -> None:
    team = await make_team()
    for n in range(23):
        bot.clock.advance(minutes=1)
        await file_direct(bot.clock.now(), customer=team.my_customer, openid=f"o-{n}")
    await fresh_login(bot.client, "gm")

    first = await page_text(bot.client, "/admin/complaints/list")
    second = await page_text(bot.client, "/admin/complaints/list", page="2")
    past_the_end = await page_text(bot.client, "/admin/complaints/list", page="99")

    def listed(page: str) -> list[int]:
        return [int(n) for n in re.findall(r">C20261123-(\d{4})</a>", page)]

    assert listed(first) == list(range(23, 3, -1))  # newest first
    assert listed(second) == listed(past_the_end) == [3, 2, 1]
    assert "第 1 / 2 页 · 共 23 条" in first and "第 2 / 2 页" in past_the_end
