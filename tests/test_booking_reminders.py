"""The day-before reminder: once per booking however often the job runs, deferred out of quiet
hours (21:00-08:00 in the dealer's time zone), moved with a rescheduled booking."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.app import WECHAT
from bot.clock import FrozenClock
from bot.scheduler.registry import JobContext, registered_jobs
from bot.services.booking import appointments
from bot.services.quiet_hours import is_quiet, next_allowed
from tests.conftest import Bot, MakeBot
from tests.test_booking_support import (
    CUSTOMER_OPENID,
    MONDAY,
    TEMPLATE_IDS,
    TUESDAY,
    TZ,
    at,
    book_for,
    drain_outbox,
    local,
    make_workshop,
    notifier,
    sent_to,
    window_id,
    words,
)

WEDNESDAY = TUESDAY + timedelta(days=1)


async def run_reminders(bot: Bot, when: datetime) -> str:
    """Run the job as the scheduler would, at `when`, with its own frozen clock."""
    job = registered_jobs()["appointment-reminders"]
    return await job(JobContext(settings=bot.settings, clock=FrozenClock(when), wechat=bot.app[WECHAT]))


async def test_running_the_job_twice_sends_one_reminder(make_bot: MakeBot) -> None:
    bot = await make_bot(template_ids=TEMPLATE_IDS)
    shop = await make_workshop()
    tomorrow = (await book_for(shop, TUESDAY, time(10, 0), now=bot.clock.now())).appointment
    later = (await book_for(shop, WEDNESDAY, time(10, 0), now=bot.clock.now())).appointment
    await appointments.cancel(later.id, now=bot.clock.now(), notifier=notifier())
    evening = local(MONDAY, 18)

    first = await run_reminders(bot, evening)
    second = await run_reminders(bot, evening + timedelta(minutes=15))
    bot.clock.set(evening + timedelta(minutes=20))
    await drain_outbox(bot)

    assert (first, second) == ("1 appointment reminders queued", "0 appointment reminders queued")
    sent = sent_to(bot, CUSTOMER_OPENID)
    assert len(sent) == 1 and sent[0].payload["template_id"] == "TPL-REMINDER"
    assert f"{tomorrow.number} 定期保养" in words(sent[0]) and "2026-11-24 10:00" in words(sent[0])


async def test_a_reminder_due_in_quiet_hours_waits_for_eight_oclock(make_bot: MakeBot) -> None:
    bot = await make_bot(template_ids=TEMPLATE_IDS)
    shop = await make_workshop()
    await book_for(shop, TUESDAY, time(10, 0), now=bot.clock.now())

    await run_reminders(bot, local(MONDAY, 22, 30))
    at(bot.clock, MONDAY, 22, 31)
    await drain_outbox(bot)
    at(bot.clock, TUESDAY, 7, 59)
    await drain_outbox(bot)
    assert sent_to(bot, CUSTOMER_OPENID) == []  # deferred, not sent at night

    at(bot.clock, TUESDAY, 8, 0)
    await drain_outbox(bot)
    assert len(sent_to(bot, CUSTOMER_OPENID)) == 1  # and not dropped


async def test_a_moved_booking_is_reminded_for_its_new_day(make_bot: MakeBot) -> None:
    bot = await make_bot(template_ids=TEMPLATE_IDS)
    shop = await make_workshop()
    booking = (await book_for(shop, TUESDAY, time(10, 0), now=bot.clock.now())).appointment
    await run_reminders(bot, local(MONDAY, 10))

    at(bot.clock, MONDAY, 11)
    await appointments.reschedule(
        booking.id,
        day=WEDNESDAY,
        window_id=await window_id(shop.store, WEDNESDAY, time(13, 30)),
        now=bot.clock.now(),
        notifier=notifier(),
    )
    assert await run_reminders(bot, local(MONDAY, 12)) == "0 appointment reminders queued"
    assert await run_reminders(bot, local(TUESDAY, 12)) == "1 appointment reminders queued"
    at(bot.clock, TUESDAY, 12, 1)
    await drain_outbox(bot)

    sent = [words(m) for m in sent_to(bot, CUSTOMER_OPENID)]
    assert len(sent) == 2 and "2026-11-25 13:30" in sent[1]


@pytest.mark.parametrize(
    ("hour", "minute", "quiet", "allowed"),
    [
        (20, 59, False, local(MONDAY, 20, 59)),
        (21, 0, True, local(TUESDAY, 8)),
        (23, 45, True, local(TUESDAY, 8)),
        (0, 0, True, local(MONDAY, 8)),
        (7, 59, True, local(MONDAY, 8)),
        (8, 0, False, local(MONDAY, 8)),
    ],
)
def test_quiet_hours_defer_to_the_next_eight_oclock(
    hour: int, minute: int, quiet: bool, allowed: datetime
) -> None:
    moment = local(MONDAY, hour, minute).astimezone(UTC)
    assert is_quiet(moment, TZ) is quiet
    assert next_allowed(moment, TZ) == allowed
    assert next_allowed(moment, TZ).tzinfo is UTC


def test_quiet_hours_refuse_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 11, 23, 22, 0), TZ)
