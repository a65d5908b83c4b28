"""`python -m bot jobs run` and `python -m bot scheduler` as the processes operators run.

Each test starts the real command line in a subprocess, configured only through the environment
(SPEC §9), against the test database and the fake WeChat served by this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.models import InboundMessage, MessageCategory, Outbox, OutboxStatus
from bot.services.outbox import enqueue
from bot.wechat.fake import RunningFakeWeChat
from tests.backends import Backend

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPENID = "o-process"


def bot_environment(db: Backend | None, wechat_url: str, tmp_path: Path) -> dict[str, str]:
    """This process's environment without any BOT_/WECHAT_ setting, plus the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WECHAT_"))}
    env |= {
        "BOT_DATABASE_URL": db.database_url if db else f"sqlite://{tmp_path}/unused.sqlite3",
        "WECHAT_API_BASE": wechat_url,
        "WECHAT_APPID": "wx-process-test",
        "WECHAT_SECRET": "process-test-secret",
        "WECHAT_TOKEN": "process-test-token",
    }
    if db and db.redis_url:
        env["BOT_REDIS_URL"] = db.redis_url
    return env


async def start_bot(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start `python -m bot ARGS` without blocking this loop (the fake WeChat is served on it)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def run_bot(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    process = await start_bot(*args, env=env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def customer_wrote_at(at: datetime) -> None:
    """A text from the customer opens WeChat's 48-hour customer-service window."""
    await InboundMessage.create(
        key=f"{OPENID}-{at.timestamp()}", openid=OPENID, kind="text", body={"Content": "你好"}, received_at=at
    )


async def test_jobs_run_send_outbox_sends_what_is_due_at_the_given_time(
    db: Backend, fake_wechat: RunningFakeWeChat, tmp_path: Path
) -> None:
    at = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    await customer_wrote_at(at - timedelta(hours=20))
    await enqueue(
        openid=OPENID, text="您的爱车已洗好，可以取车了", category=MessageCategory.REPLY,
        dedup_key="process-due", now=at - timedelta(minutes=30),
    )  # fmt: skip
    await enqueue(
        openid=OPENID, text="明天见", category=MessageCategory.REPLY,
        dedup_key="process-later", now=at - timedelta(minutes=30), not_before=at + timedelta(hours=1),
    )  # fmt: skip

    code, stdout, stderr = await run_bot(
        "jobs", "run", "send-outbox", "--at", "2026-11-25T09:00+08:00",
        env=bot_environment(db, fake_wechat.url, tmp_path),
    )  # fmt: skip

    assert code == 0, stderr
    assert "sent 1," in stdout
    assert [(m.openid, m.payload["text"]["content"]) for m in fake_wechat.state.messages] == [
        (OPENID, "您的爱车已洗好，可以取车了")
    ]
    due, later = await Outbox.filter(dedup_key__in=("process-due", "process-later")).order_by("id")
    assert (due.status, due.sent_at) == (OutboxStatus.SENT, at.astimezone(UTC))
    assert later.status == OutboxStatus.PENDING


async def test_jobs_run_unknown_job_exits_non_zero_naming_the_known_jobs(
    fake_wechat: RunningFakeWeChat, tmp_path: Path
) -> None:
    code, stdout, stderr = await run_bot(
        "jobs", "run", "nosuch", env=bot_environment(None, fake_wechat.url, tmp_path)
    )

    assert code != 0
    assert "no job 'nosuch'" in stderr and "send-outbox" in stderr
    assert stdout == ""


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_scheduler_sends_due_messages_and_stops_cleanly_on_signal(
    db: Backend, fake_wechat: RunningFakeWeChat, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    now = datetime.now(UTC)
    await customer_wrote_at(now - timedelta(minutes=1))
    await enqueue(
        openid=OPENID, text="保养提醒", category=MessageCategory.REPLY, dedup_key="scheduler-due", now=now
    )
    process = await start_bot("scheduler", env=bot_environment(db, fake_wechat.url, tmp_path))
    try:

        async def delivered() -> bool:
            assert process.returncode is None, "the scheduler exited on its own"
            return any(m.openid == OPENID for m in fake_wechat.state.messages)

        await eventually(delivered, timeout=30, what="the scheduler to send the due message")
        process.send_signal(stop_signal)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    assert "scheduler stopped" in stderr.decode()
    assert (await Outbox.get(dedup_key="scheduler-due")).status == OutboxStatus.SENT
