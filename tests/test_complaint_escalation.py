"""The 24-hour escalation (SPEC §5) with an injected clock, on both backends.

The job runs as the scheduler would, every simulated minute around each deadline and every
10 minutes between them; every notice must reach the fake WeChat exactly once, at the right time
and to the right people, however often it runs, however many runners there are, and across a
restart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.app import WECHAT
from bot.clock import FrozenClock
from bot.db import close_db, init_db
from bot.models import Complaint, ComplaintEvent
from bot.models.complaint import ComplaintStatus, EventKind
from bot.scheduler.escalate_complaints import escalate_complaints
from bot.scheduler.registry import JobContext
from bot.scheduler.runner import job_context
from bot.services.complaints import handling
from bot.wechat.client import WeChatClient
from bot.wechat.token_cache import MemoryTokenCache
from tests.backends import Backend
from tests.conftest import Bot, MakeBot
from tests.test_complaint_support import (
    CUSTOMER_OPENID,
    TEMPLATE_IDS,
    Cast,
    bound_customer,
    file_by_chat,
    hours,
    make_cast,
    notices_for,
    run_job,
    sent_to,
    templates_sent_to,
)
from tests.test_scheduler_process import bot_environment, run_bot


@pytest.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot(template_ids=TEMPLATE_IDS)


MINUTE = timedelta(minutes=1)
# Into a cycle: the warning (2 h before resolution is due), level 1 (resolution due), level 2.
DEADLINES = (hours(22), hours(24), hours(48))
CLOSE_UP = 30 * MINUTE  # on each side of a deadline the job runs every minute
BETWEEN = 10 * MINUTE  # and every 10 minutes elsewhere


def ticks(start: datetime, until: datetime, every: timedelta = MINUTE) -> Iterator[datetime]:
    """The times a scheduler running every `every` would run at, after `start` up to `until`."""
    at = start
    while at < until:
        at = min(at + every, until)
        yield at


def around_deadlines(cycle_start: datetime, until: datetime) -> Iterator[datetime]:
    """Run times up to `until`: every minute within CLOSE_UP of each deadline of the cycle that
    began at `cycle_start`, every BETWEEN elsewhere (on the same grid, so each deadline is a run).

    A step taken early shows as an event before its deadline, whatever run took it: the
    minute-by-minute runs just before a deadline catch one taken a minute early, the coarse
    ones catch one taken hours early. A step taken late shows as an event after its deadline:
    the run at the deadline and those just after catch it. Every later run, minute by minute
    and then coarse, is one more chance to send a notice twice.
    """
    deadlines = [cycle_start + offset for offset in DEADLINES]
    at = cycle_start
    while at < until:
        close_up = any(deadline - CLOSE_UP <= at < deadline + CLOSE_UP for deadline in deadlines)
        at = min(at + (MINUTE if close_up else BETWEEN), until)
        yield at


async def run_at(bot: Bot, times: Iterable[datetime]) -> None:
    for at in times:
        bot.clock.set(at)
        await run_job(bot)


async def run_every(bot: Bot, until: datetime, every: timedelta = MINUTE) -> None:
    """Run the job as the scheduler would, every `every` of simulated time until `until`."""
    await run_at(bot, ticks(bot.clock.now(), until, every))


async def event_times(complaint: Complaint, kind: EventKind) -> list[tuple[int, datetime]]:
    events = await ComplaintEvent.filter(complaint_id=complaint.id, kind=kind).order_by("id")
    return [(event.cycle, event.at) for event in events]


def staff_notices(bot: Bot, cast: Cast) -> dict[str, list[str]]:
    people = {
        "advisor": cast.advisor,
        "other_advisor": cast.other_advisor,
        "service_manager": cast.service_manager,
        "aftersales_manager": cast.aftersales_manager,
        "gm": cast.gm,
    }
    return {name: templates_sent_to(bot, staff) for name, staff in people.items()}


async def test_one_complaint_walked_through_warning_escalations_survey_reopen_and_close(bot: Bot) -> None:
    """50 hours of the job as the scheduler runs it, then a response, a resolution, a reopening
    survey answer, a second resolution and a closing one; each notice goes out exactly once.

    The job runs every minute only in the hour around each deadline and every 10 minutes
    elsewhere (about 460 runs instead of 3000): the events must still be stamped exactly at
    their deadlines, which no run too early or too late can fake (see `around_deadlines`).
    """
    cast = await make_cast()
    await bound_customer(cast)
    user = bot.user(CUSTOMER_OPENID)
    complaint = await file_by_chat(bot, user)
    created = complaint.created_at
    assert complaint.assignee_id == cast.advisor.id

    await run_at(bot, around_deadlines(created, created + hours(50)))

    assert await event_times(complaint, EventKind.WARNED) == [(1, created + hours(22))]
    escalations = await ComplaintEvent.filter(complaint_id=complaint.id, kind=EventKind.ESCALATED).order_by(
        "id"
    )
    assert [(e.details["level"], e.at) for e in escalations] == [
        (1, created + hours(24)),
        (2, created + hours(48)),
    ]
    assert escalations[0].details["to"] == [cast.service_manager.id, cast.aftersales_manager.id]
    assert escalations[1].details["to"] == [cast.gm.id]
    assert staff_notices(bot, cast) == {
        "advisor": ["TPL-ASSIGNED", "TPL-WARNING"],
        "other_advisor": [],
        "service_manager": ["TPL-ESCALATED"],
        "aftersales_manager": ["TPL-ESCALATED"],
        "gm": ["TPL-ESCALATED"],
    }

    notices = notices_for(bot)
    await handling.respond(complaint.id, cast.advisor, "非常抱歉，明天为您免费复检", notices, bot.clock.now())
    await handling.resolve(
        complaint.id, cast.advisor, "已更换正时皮带", "workmanship", notices, bot.clock.now()
    )
    await run_every(bot, bot.clock.now() + hours(1), BETWEEN)
    reopened = await bot.user(CUSTOMER_OPENID).text("2")
    assert "重新处理" in reopened.text
    again = await Complaint.get(id=complaint.id)
    assert again.status is ComplaintStatus.IN_PROGRESS and again.cycle == 2
    assert again.due_at == bot.clock.now() + hours(24) and again.escalation_level == 0  # a fresh clock

    await run_every(bot, bot.clock.now() + hours(3), BETWEEN)
    await handling.resolve(
        complaint.id, cast.advisor, "已再次检修并试车", "workmanship", notices, bot.clock.now()
    )
    await run_every(bot, bot.clock.now() + hours(1), BETWEEN)
    closed = await bot.user(CUSTOMER_OPENID).text("5")
    assert "感谢" in closed.text
    await run_every(bot, bot.clock.now() + hours(100), 60 * MINUTE)  # nothing more happens

    final = await Complaint.get(id=complaint.id)
    assert final.status is ComplaintStatus.CLOSED and final.survey_score == 5
    trail = [
        e.kind.value for e in await ComplaintEvent.filter(complaint_id=complaint.id).order_by("at", "id")
    ]
    assert [k for k in trail if k != "notified"] == [
        "created", "assigned", "warned", "escalated", "escalated", "responded", "resolved",
        "surveyed", "reopened", "resolved", "surveyed", "closed",
    ]  # fmt: skip
    assert staff_notices(bot, cast) == {
        "advisor": ["TPL-ASSIGNED", "TPL-WARNING", "TPL-REOPENED"],
        "other_advisor": [],
        "service_manager": ["TPL-ESCALATED", "TPL-REOPENED"],
        "aftersales_manager": ["TPL-ESCALATED"],
        "gm": ["TPL-ESCALATED"],
    }
    to_customer = [m.payload for m in sent_to(bot, CUSTOMER_OPENID)]
    assert len(to_customer) == 3  # the response and two resolutions, each once
    assert sum("已处理完毕" in str(payload) for payload in to_customer) == 2


async def test_a_complaint_resolved_in_time_never_escalates(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)

    await run_at(bot, around_deadlines(complaint.created_at, complaint.created_at + hours(23)))
    await handling.resolve(complaint.id, cast.advisor, "已处理", "process", notices_for(bot), bot.clock.now())
    resolved_at = bot.clock.now()
    await run_every(bot, resolved_at + timedelta(days=3) - MINUTE, 30 * MINUTE)
    assert (await Complaint.get(id=complaint.id)).status is ComplaintStatus.RESOLVED
    await run_every(bot, resolved_at + timedelta(days=3, minutes=1))

    assert await event_times(complaint, EventKind.ESCALATED) == []
    assert staff_notices(bot, cast)["service_manager"] == []
    closed = await Complaint.get(id=complaint.id)
    assert closed.status is ComplaintStatus.CLOSED  # no survey answer within 3 days: closed by the job
    assert closed.closed_at is not None and closed.closed_at - resolved_at <= timedelta(days=3, minutes=1)
    assert await event_times(complaint, EventKind.CLOSED) == [(1, closed.closed_at)]


async def test_a_reopened_complaint_escalates_again_in_its_new_cycle(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    await run_at(bot, around_deadlines(complaint.created_at, complaint.created_at + hours(25)))
    await handling.resolve(complaint.id, cast.advisor, "已处理", "process", notices_for(bot), bot.clock.now())
    await bot.user(CUSTOMER_OPENID).text("不满意")
    reopened_at = bot.clock.now()

    await run_at(bot, around_deadlines(reopened_at, reopened_at + hours(25)))

    escalations = await ComplaintEvent.filter(complaint_id=complaint.id, kind=EventKind.ESCALATED).order_by(
        "id"
    )
    assert [(e.cycle, e.details["level"]) for e in escalations] == [(1, 1), (2, 1)]
    assert escalations[1].at == reopened_at + hours(24)
    assert staff_notices(bot, cast)["aftersales_manager"] == ["TPL-ESCALATED", "TPL-ESCALATED"]


async def test_a_restart_before_the_deadline_changes_nothing(bot: Bot, db: Backend) -> None:
    """The complaint is filed by one app; a fresh process (new connections, new job context)
    escalates it at 24 h and 48 h to the same people, from the database alone."""
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    await run_every(bot, complaint.created_at + hours(6), 5 * MINUTE)
    await bot.client.close()  # the web process goes away
    await close_db()

    clock = FrozenClock(bot.clock.now())
    async with job_context(bot.settings, clock) as fresh:  # opens its own database connection
        for at in around_deadlines(complaint.created_at, complaint.created_at + hours(50)):
            if at > clock.now():
                clock.set(at)
                await escalate_complaints(fresh)
    await init_db(db.database_url)

    escalations = await ComplaintEvent.filter(complaint_id=complaint.id, kind=EventKind.ESCALATED).order_by(
        "id"
    )
    assert [(e.details["level"], e.at) for e in escalations] == [
        (1, complaint.created_at + hours(24)),
        (2, complaint.created_at + hours(48)),
    ]
    assert staff_notices(bot, cast) == {
        "advisor": ["TPL-ASSIGNED", "TPL-WARNING"],
        "other_advisor": [],
        "service_manager": ["TPL-ESCALATED"],
        "aftersales_manager": ["TPL-ESCALATED"],
        "gm": ["TPL-ESCALATED"],
    }


async def test_concurrent_runners_notify_each_level_once(bot: Bot) -> None:
    """Eight runners, each with its own WeChat client and HTTP session, at every key moment."""
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    async with aiohttp.ClientSession() as session:
        runners = [
            JobContext(bot.settings, bot.clock, WeChatClient(session, bot.settings, MemoryTokenCache()))
            for _ in range(8)
        ]
        for moment in (22, 24, 48, 49):
            bot.clock.set(complaint.created_at + hours(moment))
            for _ in range(3):
                await asyncio.gather(*(escalate_complaints(runner) for runner in runners))

    assert {name: sorted(sent) for name, sent in staff_notices(bot, cast).items()} == {
        "advisor": ["TPL-ASSIGNED", "TPL-WARNING"],  # 8 drainers at once: any order, each once
        "other_advisor": [],
        "service_manager": ["TPL-ESCALATED"],
        "aftersales_manager": ["TPL-ESCALATED"],
        "gm": ["TPL-ESCALATED"],
    }
    assert Counter(e.kind for e in await ComplaintEvent.filter(complaint_id=complaint.id)) == Counter(
        {
            EventKind.CREATED: 1,
            EventKind.ASSIGNED: 1,
            EventKind.WARNED: 1,
            EventKind.ESCALATED: 2,
            EventKind.NOTIFIED: 5,  # assigned, warning, two managers, GM
        }
    )


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_job_processes_against_postgresql_notify_each_level_once(
    bot: Bot, db: Backend, tmp_path: Path
) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    env = bot_environment(db, bot.wechat.url, tmp_path) | {
        f"WECHAT_TEMPLATE_{name.upper()}": template for name, template in TEMPLATE_IDS.items()
    }
    env["BOT_MEDIA_DIR"] = str(tmp_path / "media")

    for moment in (24, 48):  # the warning's moment passed unseen: level 1 says more than it would
        at = (complaint.created_at + hours(moment)).isoformat()
        results = await asyncio.gather(
            *(run_bot("jobs", "run", "escalate-complaints", "--at", at, env=env) for _ in range(2))
        )
        assert all(code == 0 for code, _, _ in results), results

    assert staff_notices(bot, cast) == {
        "advisor": ["TPL-ASSIGNED"],
        "other_advisor": [],
        "service_manager": ["TPL-ESCALATED"],
        "aftersales_manager": ["TPL-ESCALATED"],
        "gm": ["TPL-ESCALATED"],
    }
    assert [e.details["level"] for e in await ComplaintEvent.filter(kind=EventKind.ESCALATED)] == [1, 2]


async def test_the_job_reports_what_it_did(bot: Bot) -> None:
    cast = await make_cast()
    await bound_customer(cast)
    complaint = await file_by_chat(bot)
    bot.clock.set(complaint.created_at + hours(24))

    report = await run_job(bot)

    assert report.startswith("warned 0, level 1 1, level 2 0, closed 0")
    assert "sent 3" in report  # the assignment notice and both managers'
    assert bot.app[WECHAT] is not None
