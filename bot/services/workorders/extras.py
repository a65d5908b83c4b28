"""Extra work found in the workshop (增项): recorded, pushed to the customer, answered in chat.

The customer's answer is a conditional update from pending, so it is recorded once with its time,
and the work order's advisor is told in the same transaction under a key naming the item: a
repeated answer or a WeChat retry tells nobody twice. Only the owner's answer counts (items are
looked up through the work order's customer).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import ExtraItem, ExtraItemStatus, WorkOrder
from bot.services.customer_notices import Notice, Notifier
from bot.services.workorders.amounts import money
from bot.services.workorders.errors import ExtraItemAnswered, ExtraItemNotFound, InvalidValue
from bot.services.workorders.orders import Author, open_order

log = logging.getLogger(__name__)

EXTRA_ITEM_TEMPLATE = "extra_item"
ANSWERED_TEMPLATE = "extra_item_answered"


async def add_extra_item(
    order_id: int,
    *,
    description: str,
    parts_price: Decimal | str,
    labour_price: Decimal | str,
    author: Author,
    now: datetime,
    notifier: Notifier,
    external_ref: str | None = None,
) -> ExtraItem:
    """Record extra work found (增项) and ask the customer in chat; `external_ref` makes a retry a no-op."""
    description = " ".join(description.split())
    if not 0 < len(description) <= 200:
        raise InvalidValue("the description must be 1 to 200 characters")
    parts, labour = money(parts_price, "parts price"), money(labour_price, "labour price")
    order = await open_order(order_id)
    if external_ref is not None:
        again = await ExtraItem.get_or_none(work_order_id=order.id, external_ref=external_ref)
        if again is not None:
            return again
    try:
        async with in_transaction():
            item = await ExtraItem.create(
                work_order=order,
                external_ref=external_ref,
                description=description,
                parts_price=parts,
                labour_price=labour,
                added_at=now,
                source=author.source,
                staff_id=author.staff_id,
            )
            await _ask_customer(order, item, now=now, notifier=notifier)
    except IntegrityError:
        again = await ExtraItem.get_or_none(work_order_id=order.id, external_ref=external_ref)
        if external_ref is None or again is None:
            raise
        return again
    log.info("extra item added", extra={"work_order": order.number, "extra_item": item.id})
    return item


async def answer_extra_item(
    item_id: int, *, customer_id: int, approve: bool, openid: str, now: datetime, notifier: Notifier
) -> ExtraItem:
    """The customer's yes or no, with its time, told to the advisor; the same answer twice is fine
    (and told once), a change of mind is not."""
    item = await ExtraItem.filter(id=item_id, work_order__customer_id=customer_id).first()
    if item is None:
        raise ExtraItemNotFound(f"no extra item {item_id} for this customer")
    status = ExtraItemStatus.APPROVED if approve else ExtraItemStatus.DECLINED
    async with in_transaction():
        answered = await ExtraItem.filter(id=item.id, status=ExtraItemStatus.PENDING).update(
            status=status, answered_at=now, answered_by=openid
        )
        item = await ExtraItem.get(id=item.id)
        if answered:
            await _tell_advisor(item, now=now, notifier=notifier)
    if not answered and item.status is not status:
        raise ExtraItemAnswered(f"extra item {item.id} was {item.status.value} already")
    return item


async def pending_extra_items(
    *, customer_id: int | None = None, advisor_id: int | None = None, order_id: int | None = None
) -> list[ExtraItem]:
    """Items still waiting for the customer's answer: a customer's, an advisor's, or one order's."""
    query = ExtraItem.filter(status=ExtraItemStatus.PENDING)
    if customer_id is not None:
        query = query.filter(work_order__customer_id=customer_id)
    if advisor_id is not None:
        query = query.filter(work_order__advisor_id=advisor_id)
    if order_id is not None:
        query = query.filter(work_order_id=order_id)
    return await query.order_by("added_at", "id").prefetch_related("work_order__vehicle")


async def _ask_customer(order: WorkOrder, item: ExtraItem, *, now: datetime, notifier: Notifier) -> None:
    await order.fetch_related("vehicle", "advisor")
    notice = Notice(
        template="progress/extra_item",
        template_name=EXTRA_ITEM_TEMPLATE,
        template_data={
            "keyword1": order.vehicle.plate,
            "keyword2": item.description,
            "keyword3": f"{item.total:.2f}",
            "keyword4": str(item.id),
        },
        dedup_key=f"extra-item:{item.id}",
    )
    await notifier.to_customer(
        order.customer_id,  # type: ignore[attr-defined]
        notice,
        now=now,
        item=item,
        order=order,
        vehicle=order.vehicle,
        advisor=order.advisor,
    )


async def _tell_advisor(item: ExtraItem, *, now: datetime, notifier: Notifier) -> None:
    """The answer goes to the work order's advisor, who orders the parts or leaves the item out."""
    await item.fetch_related("work_order__vehicle", "work_order__customer")
    order, answered = item.work_order, notifier.local(now)
    answer = "approve" if item.status is ExtraItemStatus.APPROVED else "decline"
    data = {
        "keyword1": order.number or "",
        "keyword2": order.vehicle.plate,
        "keyword3": item.description,
        "keyword4": notifier.texts.render("progress/label", key=answer),
        "keyword5": f"{answered:%Y-%m-%d %H:%M}",
    }
    notice = Notice("progress/advisor_answered", ANSWERED_TEMPLATE, data, f"extra-item-answered:{item.id}")
    advisor_id = order.advisor_id  # type: ignore[attr-defined]
    await notifier.to_staff(advisor_id, notice, now=now, item=item, order=order, answered=answered)
