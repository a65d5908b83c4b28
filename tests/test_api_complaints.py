"""The complaint API over real HTTP, on both backends: scopes per role (another advisor's
complaint is 404), filters and paging, respond and resolve through the services, the figures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.models import Complaint, Outbox, Role
from bot.models.complaint import ComplaintStatus
from bot.services.complaints import escalation
from tests.test_admin_support import Team, make_team
from tests.test_api_support import Api, api_fixture  # noqa: F401
from tests.test_complaint_support import NOTICES, file_direct


@dataclass(frozen=True)
class Setup:
    team: Team
    mine: Complaint  # the advisor's, store A
    colleagues: Complaint  # another advisor's, store A
    other_store: Complaint  # store B's
    tokens: dict[str, str]


async def setup(api: Api) -> Setup:
    team = await make_team()
    now = api.bot.clock.now()
    mine = await file_direct(now, customer=team.my_customer, openid="o-mine")
    colleagues = await file_direct(now, customer=team.colleague_customer, openid="o-colleague")
    other = await file_direct(now, customer=team.other_customer, openid="o-other")
    return Setup(team, mine, colleagues, other, await tokens_for(api, team))


async def tokens_for(api: Api, team: Team) -> dict[str, str]:
    """Fresh staff tokens (they last 12 hours of the test's clock)."""
    return {
        "advisor": await api.token_for(team.advisor),
        "manager": await api.token_for(team.staff[Role.SERVICE_MANAGER]),
        "gm": await api.token_for(team.staff[Role.GM]),
    }


def numbers(body: dict[str, Any]) -> set[str]:
    return {item["number"] for item in body["items"]}


async def test_each_role_lists_what_it_may_see(api: Api) -> None:
    s = await setup(api)
    expected = {
        "advisor": {s.mine.number},
        "manager": {s.mine.number, s.colleagues.number},
        "gm": {s.mine.number, s.colleagues.number, s.other_store.number},
    }
    for who, wanted in expected.items():
        answer = await api.call("GET", "/complaints", token=s.tokens[who])
        assert answer.status == 200, answer.body
        assert numbers(answer.body) == wanted, who
        assert answer.body["total"] == len(wanted)


async def test_another_advisors_complaint_is_404_like_a_missing_one(api: Api) -> None:
    s = await setup(api)
    advisor = s.tokens["advisor"]
    assert (await api.call("GET", f"/complaints/{s.mine.id}", token=advisor)).status == 200
    for other_id in (s.colleagues.id, s.other_store.id, 999_999):
        answer = await api.call("GET", f"/complaints/{other_id}", token=advisor)
        assert answer.status == 404 and answer.body["code"] == "not_found"
        refused = await api.call(
            "POST", f"/complaints/{other_id}/respond", json={"text": "你好"}, token=advisor
        )
        assert refused.status == 404
    assert (await api.call("GET", f"/complaints/{s.other_store.id}", token=s.tokens["manager"])).status == 404
    assert (await api.call("GET", f"/complaints/{s.other_store.id}", token=s.tokens["gm"])).status == 200
    assert not await Outbox.filter(openid__in=["o-colleague", "o-other"]).exists()


async def test_complaints_need_a_staff_token(api: Api) -> None:
    s = await setup(api)
    as_dms = await api.call("GET", "/complaints")
    assert as_dms.status == 403 and "staff tokens" in as_dms.body["message"]
    assert (await api.call("GET", "/complaints", anonymous=True)).status == 401
    dispatcher = await api.token_for(s.team.staff[Role.RESCUE_DISPATCHER])
    assert (await api.call("GET", f"/complaints/{s.mine.id}", token=dispatcher)).status == 403


async def test_detail_carries_the_trail_and_the_full_phone(api: Api) -> None:
    s = await setup(api)
    answer = await api.call("GET", f"/complaints/{s.mine.id}", token=s.tokens["advisor"])
    body = answer.body
    assert body["number"] == s.mine.number and body["status"] == "open"
    assert body["phone"] == s.team.my_customer.phone
    assert [e["kind"] for e in body["events"]] == ["created", "assigned", "notified"]
    assert body["events"][1]["details"]["reason"] == "own_advisor"
    assert body["response"]["remaining_seconds"] == 7200 and body["response"]["urgency"] == "due_soon"
    assert body["resolution"]["remaining_seconds"] == 86400
    listed = (await api.call("GET", "/complaints", token=s.tokens["advisor"])).body["items"][0]
    assert listed["phone"] != s.team.my_customer.phone and "*" in listed["phone"]  # masked in lists


async def test_respond_then_resolve(api: Api) -> None:
    s = await setup(api)
    advisor = s.tokens["advisor"]
    path = f"/complaints/{s.mine.id}"

    responded = await api.call(
        "POST", f"{path}/respond", json={"text": "您好，\n今天下午安排复查。"}, token=advisor
    )
    assert responded.status == 200, responded.body
    assert responded.body["status"] == "in_progress"
    assert responded.body["events"][-1]["kind"] == "responded"
    assert responded.body["events"][-1]["actor_id"] == s.team.advisor.id
    assert responded.body["response"]["urgency"] == "met"
    sent = await Outbox.filter(openid="o-mine").values_list("text", flat=True)
    assert len(sent) == 1 and "今天下午安排复查" in sent[0]

    resolved = await api.call(
        "POST", f"{path}/resolve", json={"resolution": "已更换刹车片", "cause": "workmanship"}, token=advisor
    )
    assert resolved.status == 200 and resolved.body["status"] == "resolved"
    assert resolved.body["cause"] == "workmanship" and resolved.body["resolution_text"] == "已更换刹车片"

    again = await api.call("POST", f"{path}/respond", json={"text": "再说一句"}, token=advisor)
    assert again.status == 409 and again.body["code"] == "conflict"
    twice = await api.call(
        "POST", f"{path}/resolve", json={"resolution": "再次", "cause": "other"}, token=advisor
    )
    assert twice.status == 409
    assert await Outbox.filter(openid="o-mine").count() == 2  # the response and the resolution


async def test_bad_bodies_are_422_and_change_nothing(api: Api) -> None:
    s = await setup(api)
    advisor = s.tokens["advisor"]
    path = f"/complaints/{s.mine.id}"
    for body in ({"text": ""}, {"text": "   "}, {"text": "a\x00b"}, {"text": "长" * 2001}, {}, {"text": 5}):
        answer = await api.call("POST", f"{path}/respond", json=body, token=advisor)
        assert answer.status == 422, body
    bad_cause = await api.call(
        "POST", f"{path}/resolve", json={"resolution": "好", "cause": "bogus"}, token=advisor
    )
    assert bad_cause.status == 422 and "cause" in bad_cause.body["fields"]
    assert (await Complaint.get(id=s.mine.id)).status is ComplaintStatus.OPEN
    assert not await Outbox.filter(openid="o-mine").exists()


async def test_filters_and_paging(api: Api) -> None:
    s = await setup(api)
    gm = s.tokens["gm"]
    await Complaint.filter(id=s.colleagues.id).update(escalation_level=1, status=ComplaintStatus.IN_PROGRESS)

    async def listed(**params: str) -> set[str]:
        answer = await api.call("GET", "/complaints", params=params, token=gm)
        assert answer.status == 200, (params, answer.body)
        return numbers(answer.body)

    assert await listed(escalated="true") == {s.colleagues.number}
    assert await listed(escalated="false", store=str(s.team.store.id)) == {s.mine.number}
    assert await listed(status="in_progress") == {s.colleagues.number}
    assert await listed(assignee=str(s.team.other_advisor.id)) == {s.other_store.number}
    assert len(await listed(**{"from": "2026-11-23", "to": "2026-11-23"})) == 3
    assert await listed(**{"from": "2026-11-24"}) == set()
    assert await listed(to="2026-11-22") == set()
    assert len(await listed(**{"from": "0001-01-01", "to": "9999-12-31"})) == 3  # the calendar's ends
    page = await api.call("GET", "/complaints", params={"limit": "2", "offset": "2"}, token=gm)
    assert page.body["total"] == 3 and len(page.body["items"]) == 1

    for params in (
        {"from": "2026-11-24", "to": "2026-11-23"},
        {"from": "23/11/2026"},
        {"status": "lost"},
        {"x": "1"},
    ):
        assert (await api.call("GET", "/complaints", params=params, token=gm)).status == 422, params


async def test_figures_for_a_period_and_store(api: Api) -> None:
    s = await setup(api)
    api.bot.clock.advance(hours=24, minutes=1)
    await escalation.run(NOTICES, api.bot.clock.now())
    s = replace(s, tokens=await tokens_for(api, s.team))
    period = {"from": "2026-11-01", "to": "2026-11-30"}

    own = await api.call("GET", "/complaints/figures", params=period, token=s.tokens["manager"])
    assert own.status == 200, own.body
    assert own.body["store_id"] == s.team.store.id and own.body["complaints"] == 2
    assert own.body["escalations"] == {"level1": 2, "level2": 0}
    assert own.body["complaint_rate_target"] == 0.04 and own.body["satisfaction_target"] == 0.99
    assert own.body["closure_eligible"] == 2 and own.body["closure_rate_24h"] == 0.0
    elsewhere = {**period, "store": str(s.team.other_store.id)}
    assert (
        await api.call("GET", "/complaints/figures", params=elsewhere, token=s.tokens["manager"])
    ).status == 404

    everything = await api.call("GET", "/complaints/figures", params=period, token=s.tokens["gm"])
    assert everything.body["store_id"] is None and everything.body["complaints"] == 3
    forever = {"from": "0001-01-01", "to": "9999-12-31"}
    assert (await api.call("GET", "/complaints/figures", params=forever)).body["complaints"] == 3
    as_dms = await api.call("GET", "/complaints/figures", params=elsewhere)
    assert as_dms.status == 200 and as_dms.body["complaints"] == 1

    advisor = await api.call("GET", "/complaints/figures", params=period, token=s.tokens["advisor"])
    assert advisor.status == 403
    backwards = {"from": "2026-11-30", "to": "2026-11-01"}
    assert (
        await api.call("GET", "/complaints/figures", params=backwards, token=s.tokens["gm"])
    ).status == 422
    assert (await api.call("GET", "/complaints/figures", params={"from": "2026-11-01"})).status == 422
