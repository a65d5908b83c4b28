"""PROGRESS: where the customer's cars are in the workshop, and their answers to extra work (增项).

```mermaid
stateDiagram-v2
    [*] --> [*]: PROGRESS / 进度 / 修好了吗, not bound (offer BIND) or plate not theirs
    [*] --> [*]: PROGRESS: stage, since, ETA, advisor, timeline per vehicle; nothing pending
    [*] --> extra: PROGRESS, with 增项 awaiting the customer's answer
    extra --> extra: answered, another item pending
    extra --> [*]: answered (1. 同意 / 2. 不同意), the last one; every answer is told to the advisor
    [*] --> which: 同意 / 不同意 with several items pending and no item number
    which --> [*]: item picked, answer recorded
```

A 增项 is pushed to the customer unasked (see `workorders.extras.add_extra_item`), when no flow may be
waiting for it, so the push asks for a reply of 同意 or 不同意 (with the item number when several
are pending): those words start `answer_extra`. Opening PROGRESS asks for each pending item as a
numbered choice. A bare 1/2 is deliberately not a start pattern: the engine also tries start
routes when another flow's step did not understand an answer, and a bare digit belongs there.

Everything is looked up by the bound customer's id, so a plate or item number of someone else's
car finds nothing, and the answer says no more than that.
"""

from __future__ import annotations

import re

from bot.conversation.context import Context
from bot.conversation.replies import Reply, TextReply
from bot.conversation.router import Router
from bot.conversation.validators import find_plate, mask_plate
from bot.models import ExtraItem
from bot.services.workorders import extras
from bot.services.workorders.errors import ExtraItemAnswered, ExtraItemNotFound
from bot.services.workorders.progress import progress_of

router = Router("progress")

FLOW = "progress"
ANSWER_FLOW = "extra_answer"
PROGRESS_WORDS = ("进度", "修好了吗", "修好没", "好了没", "修得怎么样", "车修得", "修到哪")
ANSWER_WORDS = ("同意", "拒绝")
DECLINE_WORDS = ("不同意", "拒绝", "不要", "不需要", "不用", "不做", "不修")
ITEM_NUMBER = re.compile(r"[0-9]+")


@router.start("PROGRESS", flow=FLOW, keywords=PROGRESS_WORDS)
async def start_progress(ctx: Context) -> Reply:
    customer = ctx.customer
    if customer is None:
        return ctx.finish("progress/bind_first")
    plate = find_plate(ctx.text)
    views = await progress_of(customer.id, plate=plate)
    if plate is not None and not views:
        return ctx.finish("progress/not_yours", plate=mask_plate(plate))
    overview = ctx.render("progress/overview", views=views, tz=ctx.services.settings.tz)
    pending = [(view.vehicle.plate, item) for view in views for item in view.pending]
    if not pending:
        ctx.flow = None
        return TextReply(overview)
    question = _ask_item(ctx, *pending[0])
    return TextReply(f"{overview}\n\n{question.text}")


def _ask_item(ctx: Context, plate: str, item: ExtraItem) -> TextReply:
    """Ask about one pending item (a fresh PROGRESS flow: what was asked before is answered)."""
    options = [
        (True, ctx.render("progress/label", key="approve")),
        (False, ctx.render("progress/label", key="decline")),
    ]
    return ctx.choose(
        "extra",
        "progress/ask_extra",
        options=options,
        flow=FLOW,
        item_id=item.id,
        plate=plate,
        description=item.description,
        parts=f"{item.parts_price:.2f}",
        labour=f"{item.labour_price:.2f}",
        total=f"{item.total:.2f}",
    )


@router.step(FLOW, "extra")
async def on_extra_answer(ctx: Context) -> Reply:
    approve = ctx.picked()
    if approve is None:
        return ctx.reask_choice("progress/bad_answer")
    answered = await _record(ctx, ctx.data["item_id"], approve)
    customer = ctx.customer
    assert customer is not None
    following = await extras.pending_extra_items(customer_id=customer.id)
    if not following:
        return answered
    item = following[0]
    question = _ask_item(ctx, item.work_order.vehicle.plate, item)
    return TextReply(f"{answered.text}\n\n{question.text}")


@router.start(flow=ANSWER_FLOW, keywords=ANSWER_WORDS)
async def answer_extra(ctx: Context) -> Reply:
    """同意 / 不同意 (optionally with the item number from the push) with no flow waiting."""
    customer = ctx.customer
    if customer is None:
        return ctx.say("common/help")
    pending = await extras.pending_extra_items(customer_id=customer.id)
    if not pending:
        return ctx.finish("progress/no_pending")
    approve = not any(word in ctx.text for word in DECLINE_WORDS)
    number = ITEM_NUMBER.search(ctx.text)
    if number is not None:
        item = next((i for i in pending if i.id == int(number[0])), None)
        if item is None:
            return ctx.finish("progress/unknown_item", number=number[0], pending=pending)
        return await _record(ctx, item.id, approve)
    if len(pending) == 1:
        return await _record(ctx, pending[0].id, approve)
    options = [(i.id, ctx.render("progress/label", key="item", item=i)) for i in pending]
    return ctx.choose("which", "progress/which_item", options=options, flow=ANSWER_FLOW, approve=approve)


@router.step(ANSWER_FLOW, "which")
async def on_which_item(ctx: Context) -> Reply:
    item_id = ctx.picked()
    if item_id is None:
        return ctx.reask_choice("progress/bad_answer")
    return await _record(ctx, item_id, ctx.data["approve"])


async def _record(ctx: Context, item_id: int, approve: bool) -> TextReply:
    customer = ctx.customer
    assert customer is not None
    try:
        item = await extras.answer_extra_item(
            item_id,
            customer_id=customer.id,
            approve=approve,
            openid=ctx.message.openid,
            now=ctx.services.clock.now(),
            notifier=ctx.services.notifier,
        )
    except ExtraItemNotFound:
        return ctx.finish("progress/no_pending")
    except ExtraItemAnswered:
        item = await ExtraItem.get(id=item_id)
        return ctx.finish("progress/already_answered", item=item)
    return ctx.finish("progress/answered", item=item, approve=approve)
