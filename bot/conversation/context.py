"""The one object every handler receives: the message, who sent it, their flow, and services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.conversation.messages import Incoming
from bot.conversation.replies import TextReply
from bot.conversation.storage import FlowState
from bot.conversation.texts import Texts
from bot.conversation.validators import parse_choice
from bot.services.customer_notices import Notifier
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.models import Customer, Follower
    from bot.wechat.client import WeChatClient

CHOICES_KEY = "_choices"


@dataclass(frozen=True)
class Services:
    """What handlers may use besides the database: explicit, so tests can swap any of it."""

    settings: Settings
    clock: Clock
    texts: Texts
    wechat: WeChatClient | None = None

    @property
    def notifier(self) -> Notifier:
        """Pushes to customers and staff, worded by the same templates as the replies."""
        return Notifier(self.texts, self.settings.tz)


class Context:
    def __init__(self, message: Incoming, follower: Follower, flow: FlowState | None, services: Services):
        self.message = message
        self.follower = follower
        self.flow = flow
        self.services = services
        self.reasked = False

    @property
    def text(self) -> str:
        return self.message.text.strip()

    @property
    def customer(self) -> Customer | None:
        """The bound customer record, or None: nothing about vehicles is shown without it."""
        return self.follower.customer if self.follower.customer_id else None  # type: ignore[attr-defined]

    @property
    def data(self) -> dict[str, Any]:
        return self.flow.data if self.flow else {}

    def render(self, template: str, **values: Any) -> str:
        return self.services.texts.render(template, **values)

    def say(self, template: str, **values: Any) -> TextReply:
        """Answer without changing the flow."""
        return TextReply(self.render(template, **values))

    def ask(self, step: str, template: str, *, flow: str | None = None, **data: Any) -> TextReply:
        """Move to `step` (starting `flow` afresh when given) and ask its question."""
        self._move(step, flow, data)
        return self.say(template, **self.data)

    def choose(
        self,
        step: str,
        template: str,
        options: list[tuple[Any, str]],
        *,
        flow: str | None = None,
        **data: Any,
    ) -> TextReply:
        """Ask a numbered choice; the customer answers with the number or the option's text."""
        self._move(step, flow, data)
        return self.offer(step, template, options, **self.data)

    def offer(self, step: str, template: str, options: list[tuple[Any, str]], /, **values: Any) -> TextReply:
        """Move to `step`, keeping the flow's data, and ask a numbered choice whose question shows
        `values` that are not flow data (names, dates)."""
        assert self.flow is not None
        self.flow = self.flow.at(step, **{CHOICES_KEY: [[value, label] for value, label in options]})
        question = self.render(template, **values)
        return TextReply(question + "\n" + self.render("common/choices", options=self.offered))

    @property
    def offered(self) -> list[str]:
        """The labels of the choice being answered."""
        return [label for _, label in self.data.get(CHOICES_KEY) or []]

    def picked(self) -> Any | None:
        """The value of the option the customer picked at a `choose` step, or None."""
        index = parse_choice(self.text, self.offered)
        return None if index is None else self.data[CHOICES_KEY][index][0]

    def reask(self, template: str, **values: Any) -> TextReply:
        """The answer was not understood: explain and ask again (failures are counted)."""
        self.reasked = True
        return self.say(template, **values)

    def reask_choice(self, template: str, **values: Any) -> TextReply:
        """`reask` at a `choose` step: the template shows the same `options` again."""
        return self.reask(template, options=self.offered, **values)

    def finish(self, template: str, **values: Any) -> TextReply:
        """End the flow and answer."""
        self.flow = None
        return self.say(template, **values)

    def _move(self, step: str, flow: str | None, data: dict[str, Any]) -> None:
        """To `step` of a fresh `flow` (or of a fresh one when none runs), else of the current flow
        with `data` added and the last choice's options forgotten."""
        if flow is not None or self.flow is None:
            self.flow = FlowState(flow=flow or "", step=step, data=data)
        else:
            self.flow = self.flow.at(step, **{CHOICES_KEY: None, **data})
