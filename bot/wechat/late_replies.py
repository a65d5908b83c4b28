"""Replies that missed WeChat's 5-second window go out through the customer-service API.

The overrunning handler keeps running; when it finishes, its reply becomes an outbox row (keyed
by the message, so it is queued once) and a drain is started at once so the customer does not
wait for the next scheduled run. A handler that fails after the window gets the customer the
same apology an in-time failure gets, never silence.
"""

from __future__ import annotations

import asyncio
import logging

from bot.clock import Clock
from bot.conversation.engine import Answer
from bot.conversation.messages import Incoming
from bot.conversation.replies import TextReply
from bot.conversation.texts import Texts
from bot.models import MessageCategory
from bot.services import outbox
from bot.settings import Settings
from bot.wechat.client import WeChatClient

log = logging.getLogger(__name__)


class LateReplies:
    def __init__(self, settings: Settings, clock: Clock, wechat: WeChatClient, texts: Texts) -> None:
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self._wechat = wechat
        self._tasks: set[asyncio.Task[None]] = set()

    def adopt(self, handling: asyncio.Task[Answer], incoming: Incoming) -> None:
        self._track(asyncio.create_task(self._deliver(handling, incoming)))

    async def _deliver(self, handling: asyncio.Task[Answer], incoming: Incoming) -> None:
        try:
            reply = (await handling).reply
        except Exception:
            log.exception("late handler failed", extra={"key": incoming.key})
            reply = TextReply(self._texts.render("common/error"))
        if not isinstance(reply, TextReply):
            return
        await outbox.enqueue(
            openid=incoming.openid,
            text=reply.text,
            category=MessageCategory.REPLY,
            dedup_key=f"late-reply:{incoming.key}",
            now=self._clock.now(),
        )
        await outbox.drain(self._wechat, self._settings, self._clock, limit=20)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Let pending late replies finish (on shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
