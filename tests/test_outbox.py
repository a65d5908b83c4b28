"""The outbox: idempotent enqueue, single delivery under concurrent drains, retries, channel rules."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from tortoise import Tortoise

from bot.clock import FrozenClock
from bot.models import MODELS, InboundMessage, MessageCategory, Outbox, OutboxStatus
from bot.scheduler.registry import JobContext, registered_jobs
from bot.services.channel import Channel, CsWindow, choose_channel
from bot.services.outbox import MAX_ATTEMPTS, DrainReport, drain, enqueue
from bot.settings import Settings
from bot.wechat.client import WeChatClient
from bot.wechat.fake import RunningFakeWeChat

pytest_plugins = ["tests.wechat_fakes"]

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SERVICE_TEMPLATE = "service_notice"
EVENTS = frozenset({"click", "view", "subscribe", "unsubscribe", "scan"})
_keys = itertools.count()


@pytest_asyncio.fixture
async def db() -> AsyncIterator[None]:
    """An empty SQLite database for one test; the shared conftest will offer PostgreSQL too."""
    await Tortoise.init(db_url="sqlite://:memory:", modules={"models": MODELS})
    await Tortoise.generate_schemas()
    yield
    await Tortoise.close_connections()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


class Drainer:
    """What every outbox test needs: queue messages, log customer activity, drain, at the test's time."""

    def __init__(self, client: WeChatClient, settings: Settings, clock: FrozenClock) -> None:
        self.client, self.settings, self.clock = client, settings, clock

    async def enqueue(
        self,
        openid: str,
        category: MessageCategory = MessageCategory.MARKETING,
        *,
        dedup_key: str | None = None,
        template_name: str | None = None,
        template_data: dict[str, str] | None = None,
        not_before: datetime | None = None,
    ) -> Outbox:
        return await enqueue(
            openid=openid,
            text="您的爱车该保养了",
            category=category,
            dedup_key=dedup_key or f"k-{next(_keys)}",
            now=self.clock.now(),
            template_name=template_name,
            template_data=template_data,
            not_before=not_before,
        )

    async def enqueue_service(self, openid: str) -> Outbox:
        return await self.enqueue(
            openid, MessageCategory.SERVICE, template_name=SERVICE_TEMPLATE, template_data={"thing1": "保养"}
        )

    async def customer_did(self, openid: str, kind: str, ago: timedelta = timedelta()) -> None:
        """Log an inbound message ('text') or event ('click', 'subscribe', 'scan') as the endpoint does."""
        await InboundMessage.create(
            key=f"in-{next(_keys)}",
            openid=openid,
            kind=kind,
            is_user_message=kind not in EVENTS,
            body={},
            received_at=self.clock.now() - ago,
        )

    async def drain(self) -> DrainReport:
        return await drain(self.client, self.settings, self.clock)


@pytest.fixture
def outbox(db: None, wechat_client: WeChatClient, wechat_settings: Settings, clock: FrozenClock) -> Drainer:
    settings = wechat_settings.with_overrides(template_ids={SERVICE_TEMPLATE: "TPL-SERVICE-1"})
    return Drainer(wechat_client, settings, clock)


async def statuses() -> list[tuple[str, str | None]]:
    rows = await Outbox.all().order_by("id")
    return [(row.status.value, row.channel) for row in rows]


@pytest.mark.asyncio
async def test_enqueue_twice_with_one_key_keeps_one_row(outbox: Drainer) -> None:
    first = await outbox.enqueue("o-1", dedup_key="reminder:car-1:maintenance:2026-12-01")
    second = await outbox.enqueue("o-1", dedup_key="reminder:car-1:maintenance:2026-12-01")
    assert second.id == first.id
    assert await Outbox.all().count() == 1


@pytest.mark.asyncio
async def test_concurrent_enqueues_with_one_key_keep_one_row(outbox: Drainer) -> None:
    rows = await asyncio.gather(*(outbox.enqueue("o-1", dedup_key="same") for _ in range(10)))
    assert {row.id for row in rows} == {rows[0].id}
    assert await Outbox.all().count() == 1


@pytest.mark.asyncio
async def test_enqueue_with_not_before_waits_for_it(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "text")
    await outbox.enqueue("o-1", not_before=START + timedelta(hours=1))
    assert (await outbox.drain()).sent == 0
    outbox.clock.advance(hours=1)
    assert (await outbox.drain()).sent == 1


@pytest.mark.asyncio
async def test_message_within_48_hours_of_the_customer_goes_as_customer_service(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    await outbox.customer_did("o-1", "text", ago=timedelta(hours=47))
    row = await outbox.enqueue("o-1")
    report = await outbox.drain()
    assert str(report) == "sent 1, retried 0, failed 0, undeliverable 0, no channel 0"
    await row.refresh_from_db()
    assert (row.status, row.channel, row.sent_at, row.locked_until) == (OutboxStatus.SENT, "cs", START, None)
    assert [(m.kind, m.openid) for m in fake_wechat.state.messages] == [("text", "o-1")]


@pytest.mark.asyncio
async def test_only_five_customer_service_messages_in_the_48_hours(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "text", ago=timedelta(hours=1))
    for _ in range(6):
        await outbox.enqueue("o-1")
    report = await outbox.drain()
    assert (report.sent, report.no_channel) == (5, 1)


@pytest.mark.asyncio
async def test_a_new_customer_message_opens_a_new_quota(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "text", ago=timedelta(hours=2))
    for _ in range(5):
        await outbox.enqueue("o-1")
    await outbox.drain()
    outbox.clock.advance(minutes=1)
    await outbox.customer_did("o-1", "text")
    await outbox.enqueue("o-1")
    assert (await outbox.drain()).sent == 1


@pytest.mark.asyncio
async def test_only_three_customer_service_messages_in_the_minute_after_a_click(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "click", ago=timedelta(seconds=10))
    for _ in range(4):
        await outbox.enqueue("o-1")
    report = await outbox.drain()
    assert (report.sent, report.no_channel) == (3, 1)


@pytest.mark.asyncio
@pytest.mark.parametrize("event", ["subscribe", "scan"])
async def test_the_event_window_closes_after_a_minute(outbox: Drainer, event: str) -> None:
    await outbox.customer_did("o-1", event, ago=timedelta(seconds=61))
    await outbox.enqueue("o-1")
    assert (await outbox.drain()).no_channel == 1


@pytest.mark.asyncio
async def test_service_notice_outside_the_window_goes_by_template(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    await outbox.customer_did("o-1", "text", ago=timedelta(hours=49))
    await outbox.enqueue_service("o-1")
    assert (await outbox.drain()).sent == 1
    assert await statuses() == [("sent", "template")]
    [message] = fake_wechat.state.messages
    assert message.payload["template_id"] == "TPL-SERVICE-1"
    assert message.payload["data"] == {"thing1": {"value": "保养"}}


@pytest.mark.asyncio
async def test_marketing_never_goes_by_template_and_waits_for_a_call(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    await outbox.enqueue("o-1", template_name=SERVICE_TEMPLATE, template_data={"thing1": "优惠"})
    report = await outbox.drain()
    assert report.no_channel == 1
    assert await statuses() == [("no_channel", None)]
    assert fake_wechat.state.messages == []


@pytest.mark.parametrize(
    ("category", "template", "windows", "expected"),
    [
        (MessageCategory.MARKETING, None, [CsWindow(START, 5, 4)], Channel.CS),
        (MessageCategory.MARKETING, SERVICE_TEMPLATE, [CsWindow(START, 5, 5)], None),
        (MessageCategory.SERVICE, SERVICE_TEMPLATE, [CsWindow(START, 3, 3)], Channel.TEMPLATE),
        (MessageCategory.REPLY, SERVICE_TEMPLATE, [], Channel.TEMPLATE),
        (MessageCategory.SERVICE, "unconfigured", [], None),
        (MessageCategory.SERVICE, None, [CsWindow(START, 5, 5), CsWindow(START, 3, 2)], Channel.CS),
    ],
)
def test_choose_channel(
    category: MessageCategory, template: str | None, windows: list[CsWindow], expected: Channel | None
) -> None:
    assert choose_channel(category, template, {SERVICE_TEMPLATE: "TPL"}, windows) == expected


@pytest.mark.asyncio
async def test_two_concurrent_drains_send_each_row_once(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    for i in range(20):
        await outbox.customer_did(f"o-{i}", "text")
        await outbox.enqueue(f"o-{i}")
    first, second = await asyncio.gather(outbox.drain(), outbox.drain())
    assert first.sent + second.sent == 20
    assert sorted(m.openid for m in fake_wechat.state.messages) == sorted(f"o-{i}" for i in range(20))


@pytest.mark.asyncio
async def test_failed_send_backs_off_then_succeeds(outbox: Drainer, fake_wechat: RunningFakeWeChat) -> None:
    await outbox.customer_did("o-1", "text")
    row = await outbox.enqueue("o-1")
    fake_wechat.state.inject(-1)

    assert (await outbox.drain()).retried == 1
    await row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == (
        OutboxStatus.PENDING,
        1,
        START + timedelta(seconds=30),
    )
    assert row.last_error is not None and "-1" in row.last_error

    assert str(await outbox.drain()) == str(DrainReport())  # not due yet
    outbox.clock.advance(seconds=30)
    assert (await outbox.drain()).retried == 1
    await row.refresh_from_db()
    assert (row.attempts, row.next_attempt_at) == (2, outbox.clock.now() + timedelta(minutes=2))

    fake_wechat.state.error_rules.clear()
    outbox.clock.advance(minutes=2)
    assert (await outbox.drain()).sent == 1


@pytest.mark.asyncio
async def test_row_fails_for_good_after_the_last_attempt(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    await outbox.customer_did("o-1", "text")
    row = await outbox.enqueue("o-1")
    await Outbox.filter(id=row.id).update(attempts=MAX_ATTEMPTS - 1)
    fake_wechat.state.inject(45009)
    assert (await outbox.drain()).failed == 1
    await row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)


@pytest.mark.asyncio
async def test_customer_who_unfollowed_is_recorded_undeliverable(
    outbox: Drainer, fake_wechat: RunningFakeWeChat
) -> None:
    await outbox.customer_did("o-1", "text")
    row = await outbox.enqueue("o-1")
    fake_wechat.state.inject(43004, openid="o-1")
    assert (await outbox.drain()).undeliverable == 1
    await row.refresh_from_db()
    assert (row.status, row.channel, row.attempts) == (OutboxStatus.UNDELIVERABLE, "cs", 0)
    assert row.last_error is not None and "43004" in row.last_error
    outbox.clock.advance(hours=1)
    assert (await outbox.drain()).undeliverable == 0


@pytest.mark.asyncio
async def test_row_left_sending_by_a_crashed_drainer_is_sent_after_its_lease(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "text")
    await outbox.customer_did("o-2", "text")
    crashed, busy = await outbox.enqueue("o-1"), await outbox.enqueue("o-2")
    await Outbox.filter(id=crashed.id).update(
        status=OutboxStatus.SENDING, locked_until=START - timedelta(seconds=1)
    )
    await Outbox.filter(id=busy.id).update(
        status=OutboxStatus.SENDING, locked_until=START + timedelta(minutes=1)
    )
    assert (await outbox.drain()).sent == 1
    assert await statuses() == [("sent", "cs"), ("sending", None)]


@pytest.mark.asyncio
async def test_send_outbox_job_reports_what_it_did(outbox: Drainer) -> None:
    await outbox.customer_did("o-1", "text")
    await outbox.enqueue("o-1")
    job = registered_jobs()["send-outbox"]
    result = await job(JobContext(settings=outbox.settings, clock=outbox.clock, wechat=outbox.client))
    assert result.startswith("sent 1,")
