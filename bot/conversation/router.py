"""Declarative routing: handlers say what they answer; routers compose in priority order.

    router = Router("binding")

    @router.start("BIND", keywords=("绑定",))
    async def start_binding(ctx: Context) -> Reply: ...

    @router.step("bind", "phone")
    async def on_phone(ctx: Context) -> Reply: ...

A menu click or an event goes to the first handler registered for it. Free text goes to the
waiting step of the customer's flow; with no flow waiting, or when the step did not understand
the answer, the first start handler whose keywords match begins its flow.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.conversation.messages import Kind
from bot.conversation.replies import Reply

if TYPE_CHECKING:
    from bot.conversation.context import Context

Handler = Callable[["Context"], Awaitable[Reply]]
Guard = Callable[["Context"], Awaitable[bool]]


@dataclass(frozen=True)
class StartRoute:
    flow: str
    menu_key: str | None
    matcher: re.Pattern[str] | None  # any keyword or pattern, in one expression; None: menu only
    handler: Handler
    when: Guard | None = None

    def matches_text(self, text: str) -> bool:
        return self.matcher is not None and self.matcher.search(text) is not None

    async def allows(self, ctx: Context) -> bool:
        """The guard's say, asked only once the text matched (it may read the database)."""
        return self.when is None or await self.when(ctx)


@dataclass(frozen=True)
class StepRoute:
    flow: str
    step: str
    accepts: frozenset[Kind]
    handler: Handler


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.starts: list[StartRoute] = []
        self.steps: list[StepRoute] = []
        self.events: list[tuple[Kind, Handler]] = []

    def start(
        self,
        menu_key: str | None = None,
        *,
        flow: str | None = None,
        keywords: Iterable[str] = (),
        patterns: Iterable[str] = (),
        when: Guard | None = None,
    ) -> Callable[[Handler], Handler]:
        """Begin a flow from a menu click (`menu_key`) or from free text matching keywords.

        `when` narrows free-text starts to customers it holds for (a bare "2" is a survey score
        only from a customer whose survey is pending).
        """

        def register(handler: Handler) -> Handler:
            self.starts.append(
                StartRoute(
                    flow=flow or (menu_key or handler.__name__).lower(),
                    menu_key=menu_key,
                    matcher=_matcher(keywords, patterns),
                    handler=handler,
                    when=when,
                )
            )
            return handler

        return register

    def step(
        self, flow: str, step: str, *, accepts: Sequence[Kind] = (Kind.TEXT,)
    ) -> Callable[[Handler], Handler]:
        """Answer the customer's next message while their flow waits at `step`."""

        def register(handler: Handler) -> Handler:
            self.steps.append(StepRoute(flow, step, frozenset(accepts), handler))
            return handler

        return register

    def event(self, kind: Kind) -> Callable[[Handler], Handler]:
        """Answer an event (subscribe, unsubscribe, scan) or a message kind with no flow waiting."""

        def register(handler: Handler) -> Handler:
            self.events.append((kind, handler))
            return handler

        return register


def _matcher(keywords: Iterable[str], patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One expression for a route's keywords (as plain text) and patterns: a single search per
    route for every message that no flow is waiting for."""
    alternatives = [*map(re.escape, keywords), *(f"(?:{pattern})" for pattern in patterns)]
    return re.compile("|".join(alternatives)) if alternatives else None


class Routes:
    """Routers flattened once, in priority order, for lookup per message."""

    def __init__(self, routers: Sequence[Router]) -> None:
        self.starts = [route for router in routers for route in router.starts]
        self._steps = {(s.flow, s.step): s for router in reversed(routers) for s in router.steps}
        self._events: dict[Kind, Handler] = {}
        for router in reversed(routers):
            self._events.update(router.events)
        flows = {s.flow for s in self.starts}
        orphans = sorted({s.flow for s in self._steps.values()} - flows)
        if orphans:
            raise ValueError(f"steps registered for flows nobody starts: {orphans}")

    def for_menu(self, key: str) -> StartRoute | None:
        return next((s for s in self.starts if s.menu_key == key), None)

    def for_flow(self, flow: str) -> StartRoute | None:
        return next((s for s in self.starts if s.flow == flow), None)

    async def for_text(self, ctx: Context, *, excluding: str | None = None) -> StartRoute | None:
        """The first start route whose keywords match and whose guard agrees: free text starts it."""
        text = ctx.text
        for route in self.starts:
            if route.flow != excluding and route.matches_text(text) and await route.allows(ctx):
                return route
        return None

    def step(self, flow: str, step: str) -> StepRoute | None:
        return self._steps.get((flow, step))

    def event(self, kind: Kind) -> Handler | None:
        return self._events.get(kind)
