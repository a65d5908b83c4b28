"""BIND: a customer proves who they are with their phone and a plate on record.

```mermaid
stateDiagram-v2
    [*] --> phone: BIND / 绑定
    phone --> phone: not a mobile number (re-ask)
    phone --> plate: mobile number
    plate --> plate: not a plate (re-ask)
    plate --> [*]: matched (bound) / no match (what to do) / too many misses (blocked)
```
"""

from bot.conversation.context import Context
from bot.conversation.replies import Reply
from bot.conversation.router import Router
from bot.conversation.validators import find_plate, mask_mobile, mask_plate, parse_mobile
from bot.services import binding, stores
from bot.services.binding import BindOutcome

router = Router("binding")


@router.start("BIND", flow="bind", keywords=("绑定", "绑车", "认证车主"))
async def start_binding(ctx: Context) -> Reply:
    customer = ctx.customer
    if customer is not None:
        vehicles = await binding.vehicles_of(customer)
        return ctx.say(
            "binding/already_bound",
            phone=mask_mobile(customer.phone),
            plates=[mask_plate(v.plate) for v in vehicles],
        )
    if binding.is_blocked(ctx.follower, ctx.services.clock.now()):
        return ctx.say("binding/blocked", store=await stores.main_store())
    return ctx.ask("phone", "binding/ask_phone", flow="bind")


@router.step("bind", "phone")
async def on_phone(ctx: Context) -> Reply:
    phone = parse_mobile(ctx.text)
    if phone is None:
        return ctx.reask("binding/bad_phone")
    return ctx.ask("plate", "binding/ask_plate", phone=phone)


@router.step("bind", "plate")
async def on_plate(ctx: Context) -> Reply:
    plate = find_plate(ctx.text)
    if plate is None:
        return ctx.reask("binding/bad_plate")
    result = await binding.bind(ctx.follower, ctx.data["phone"], plate, ctx.services.clock.now())
    if result.outcome is BindOutcome.BOUND:
        assert result.customer is not None
        vehicles = await binding.vehicles_of(result.customer)
        return ctx.finish(
            "binding/bound",
            customer=result.customer,
            advisor=result.customer.advisor if result.customer.advisor_id else None,  # type: ignore[attr-defined]
            plates=[mask_plate(v.plate) for v in vehicles],
        )
    store = await stores.main_store()
    if result.outcome is BindOutcome.BLOCKED:
        return ctx.finish("binding/blocked", store=store)
    return ctx.finish("binding/no_match", store=store, attempts_left=result.attempts_left)
