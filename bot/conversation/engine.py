"""Handles one message: log it and load its sender (`Arrivals`) while the endpoint claims it,
hold the customer's flow, route the message, keep the new flow state and the reply in one write.

Routing order: a menu click always starts its flow (a rescue is never blocked by a half-done
booking); 取消/退出 leave any flow; otherwise the waiting step answers what the customer wrote
(events such as unsubscribe or a QR scan go to their own handlers); a step that did not
understand lets a keyword start another flow, and after three misunderstandings at one step
the customer is offered a person instead of the same question again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.conversation.context import Context, Services
from bot.conversation.messages import Incoming, Kind
from bot.conversation.replies import NoReply, Reply, TransferReply
from bot.conversation.router import Routes
from bot.conversation.storage import HANDLED_RECENTLY_SECONDS, FlowStorage, Held
from bot.models import Follower
from bot.services.arrivals import Arrivals

log = logging.getLogger(__name__)

CANCEL_WORDS = frozenset({"取消", "退出", "算了", "不要了", "cancel", "q"})
MAX_FAILURES = 3


@dataclass(frozen=True)
class Admission:
    """A message being logged and its sender loaded (`Engine.admit`), and since when (monotonic)."""

    follower: asyncio.Future[Follower]
    started: float


@dataclass(frozen=True)
class Answer:
    """A handled message's reply, and the bytes WeChat is answered with (kept for its retries)."""

    reply: Reply
    rendered: bytes


class Engine:
    """`monotonic` is injectable so tests can make a message wait."""

    def __init__(
        self,
        routes: Routes,
        storage: FlowStorage,
        services: Services,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes
        self.storage = storage
        self.services = services
        self.arrivals = Arrivals(services.clock)
        self._monotonic = monotonic

    def admit(self, message: Incoming) -> Admission:
        """Start logging `message` and loading its sender; `handle` takes the admission. Written
        ahead of the customer's hold, the log row and the claim of the message cost one round
        trip's wait instead of two."""
        return Admission(self.arrivals.admit(message), self._monotonic())

    async def handle(
        self, message: Incoming, admission: Admission, render: Callable[[Reply], bytes]
    ) -> Answer:
        """`admission` is what `admit` returned for the message; `render` writes the reply as
        WeChat is to receive it (the endpoint's wire format)."""
        async with self.storage.hold(message.openid) as held:
            follower = await admission.follower
            if self._may_have_changed_since(admission, held):
                # Admitted again: the log row is there already, and the sender is read in the
                # next shared write rather than by a query of its own.
                follower = await self.arrivals.admit(message)
            ctx = Context(message, follower, held.flow, self.services)
            reply = await self._dispatch(ctx, held)
            answer = Answer(reply, render(reply))
            held.flow, held.reply = ctx.flow, (message.key, answer.rendered)
            return answer

    def _may_have_changed_since(self, admission: Admission, held: Held) -> bool:
        """Whether the sender, read before the hold, may since have been changed by another of
        the customer's messages: one of their holds ended within `HANDLED_RECENTLY_SECONDS`, or
        this message waited that long itself (and such a hold's mark may have lapsed)."""
        waited = self._monotonic() - admission.started
        return held.handled_recently or waited >= HANDLED_RECENTLY_SECONDS

    async def _dispatch(self, ctx: Context, held: Held) -> Reply:
        message = ctx.message
        if message.kind is Kind.CLICK:
            return await self._start_from_menu(ctx)
        if message.kind is Kind.TEXT and ctx.text.lower() in CANCEL_WORDS:
            template = "common/cancelled" if ctx.flow else "common/nothing_to_cancel"
            ctx.flow = None
            return ctx.say(template)
        if ctx.flow is not None and message.kind.is_user_message:  # events are never an answer
            return await self._answer_step(ctx, held)
        if message.kind is Kind.TEXT:
            return await self._start_from_text(ctx, held)
        handler = self.routes.event(message.kind)
        if handler is not None:
            return await handler(ctx)
        return NoReply() if message.kind is Kind.NOTICE else ctx.say("common/unsupported")

    async def _start_from_menu(self, ctx: Context) -> Reply:
        route = self.routes.for_menu(ctx.message.event_key)
        if route is None:
            log.warning("unknown menu key", extra={"event_key": ctx.message.event_key})
            return ctx.say("common/unknown_menu")
        ctx.flow = None
        return await route.handler(ctx)

    async def _start_from_text(self, ctx: Context, held: Held) -> Reply:
        route = await self.routes.for_text(ctx)
        if route is not None:
            return await route.handler(ctx)
        expired = held.pop_expired()
        if expired is not None:
            return ctx.say("common/flow_expired", flow=expired)
        return ctx.say("common/help")

    async def _answer_step(self, ctx: Context, held: Held) -> Reply:
        flow = ctx.flow
        assert flow is not None
        step = self.routes.step(flow.flow, flow.step)
        if step is None:
            log.warning("flow state points at no step; cleared", extra={"flow": flow.flow, "step": flow.step})
            ctx.flow = None
            return await self._dispatch(ctx, held)
        if ctx.message.kind in step.accepts:
            reply = await step.handler(ctx)
        else:
            reply = ctx.reask("common/wrong_kind", expected=sorted(k.value for k in step.accepts))
        if not ctx.reasked:
            return reply
        if ctx.message.kind is Kind.TEXT:
            other = await self.routes.for_text(ctx, excluding=flow.flow)
            if other is not None:
                ctx.flow, ctx.reasked = None, False
                return await other.handler(ctx)
        failed = flow.failed()
        if failed.failures >= MAX_FAILURES:
            ctx.flow = None
            return offer_person(ctx)
        ctx.flow = failed
        return reply


def offer_person(ctx: Context) -> Reply:
    """The advisor's contact when the customer has one; otherwise WeChat's customer-service session."""
    customer = ctx.customer
    advisor = (customer.advisor if customer and customer.advisor_id else None) or (  # type: ignore[attr-defined]
        ctx.follower.advisor if ctx.follower.advisor_id else None  # type: ignore[attr-defined]
    )
    if advisor is None:
        return TransferReply()
    return ctx.say("common/offer_person", advisor=advisor)
