"""ReplyBudget: each handler is waited for up to the budget, with one timer serving them all."""

from __future__ import annotations

import asyncio

from bot.wechat.reply_budget import ReplyBudget

BUDGET = 0.2


async def handler(release: asyncio.Event) -> str:
    await release.wait()
    return "reply"


async def test_a_handler_that_finishes_in_time_is_waited_for() -> None:
    budget, release = ReplyBudget(BUDGET), asyncio.Event()
    task = asyncio.create_task(handler(release))
    waiting = asyncio.create_task(budget.finished_within(task))
    await asyncio.sleep(0)
    assert not waiting.done()

    release.set()

    assert await waiting is True
    assert task.result() == "reply"


async def test_an_overrunning_handler_is_given_up_on_at_the_deadline_and_goes_on() -> None:
    budget, release = ReplyBudget(BUDGET), asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(handler(release))
    started = loop.time()

    assert await budget.finished_within(task) is False

    assert BUDGET <= loop.time() - started < BUDGET + 1
    assert not task.done()
    release.set()
    assert await task == "reply"


async def test_each_of_many_waiters_gets_its_own_answer_and_its_whole_budget() -> None:
    budget = ReplyBudget(BUDGET)
    loop = asyncio.get_running_loop()
    releases = [asyncio.Event() for _ in range(6)]
    tasks = [asyncio.create_task(handler(release)) for release in releases]
    first = [asyncio.create_task(budget.finished_within(task)) for task in tasks[:3]]
    for release in releases[:2]:
        release.set()
    assert await asyncio.gather(*first) == [True, True, False]

    late_start = loop.time()  # after the first timer fired: a waiter now gets a new deadline
    later = [asyncio.create_task(budget.finished_within(task)) for task in tasks[3:]]
    releases[4].set()
    async with asyncio.timeout(5):  # a timer not set again would leave these waiting forever
        assert await asyncio.gather(*later) == [False, True, False]
    assert loop.time() - late_start >= BUDGET
    for release in releases:
        release.set()


async def test_a_cancelled_request_does_not_disturb_the_others() -> None:
    budget = ReplyBudget(BUDGET)
    releases = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(handler(release)) for release in releases]
    abandoned = asyncio.create_task(budget.finished_within(tasks[0]))
    kept = asyncio.create_task(budget.finished_within(tasks[1]))
    await asyncio.sleep(0)

    abandoned.cancel()
    releases[0].set()  # its handler finishes after its request was cancelled
    releases[1].set()

    assert await kept is True
    assert await tasks[0] == "reply"
