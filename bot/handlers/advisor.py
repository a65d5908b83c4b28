"""ADVISOR: who is my service advisor, and how do I reach them."""

from bot.conversation.context import Context
from bot.conversation.replies import Reply
from bot.conversation.router import Router
from bot.services import stores

router = Router("advisor")


@router.start("ADVISOR", flow="advisor", keywords=("顾问", "服务专员", "联系人"))
async def my_advisor(ctx: Context) -> Reply:
    customer = ctx.customer
    advisor = None
    if customer is not None and customer.advisor_id:  # type: ignore[attr-defined]
        advisor = customer.advisor
    elif ctx.follower.advisor_id:  # type: ignore[attr-defined]
        advisor = ctx.follower.advisor
    if advisor is not None:
        await advisor.fetch_related("store")
        return ctx.say("advisor/contact", advisor=advisor, store=advisor.store)
    return ctx.say("advisor/none", bound=customer is not None, store=await stores.main_store())
