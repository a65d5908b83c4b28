"""COMPLAINT: file a complaint (or add to the open one), and answer the satisfaction survey.

```mermaid
stateDiagram-v2
    [*] --> existing: COMPLAINT / 投诉, with a complaint still open
    [*] --> category: COMPLAINT / 投诉
    existing --> add: add to it
    existing --> category: a new complaint
    add --> add: photo (kept)
    add --> [*]: remark or 完成 (added, assignee told)
    category --> description: category picked
    description --> photos: description (text or voice)
    photos --> photos: photo (kept, up to 9)
    photos --> related: 完成 / 跳过, bound with recent work orders or bookings
    photos --> phone: 完成 / 跳过, not bound
    photos --> confirm: 完成 / 跳过
    related --> confirm: picked (or none)
    phone --> confirm: mobile number
    confirm --> [*]: 确认 (filed: number and promised response time)
```

Survey answers arrive with no flow waiting: a score ("4", "4分") or 满意/不满意 goes to the survey
only from a customer whose complaint awaits a score (the route's `when` guard); from anyone else a
bare digit is not taken as a score, so it never steals a mistyped choice from another flow.
The rules live in `bot.services.complaints`; this module only talks.
"""

from __future__ import annotations

from typing import Any

from bot.conversation.context import CHOICES_KEY, Context
from bot.conversation.messages import Kind
from bot.conversation.replies import Reply
from bot.conversation.router import Router
from bot.conversation.validators import mask_mobile, parse_mobile
from bot.models.complaint import ComplaintCategory
from bot.services.complaints import intake, related, survey
from bot.services.complaints.errors import ComplaintError, InvalidState
from bot.services.complaints.intake import MAX_TEXT_LENGTH, NewComplaint
from bot.services.complaints.notices import Notices
from bot.services.complaints.photos import MAX_PHOTOS, IncomingPhoto
from bot.services.complaints.related import RelatedRecord

router = Router("complaint")

FLOW = "complaint"
COMPLAINT_WORDS = ("投诉", "不满", "抱怨", "差评", "举报")
DONE_WORDS = frozenset({"完成", "好了", "跳过", "没有", "无", "不用", "发完了", "没了", "ok"})
CONFIRM_WORDS = frozenset({"确认", "是", "确定", "提交", "对", "好", "好的", "是的"})
NO_RELATED = "none"


def _notices(ctx: Context) -> Notices:
    return Notices(ctx.services.texts, ctx.services.settings.tz)


def _word(ctx: Context) -> str:
    return ctx.text.strip(" 。.!！").lower()


def _repeat_choices(ctx: Context) -> Reply:
    return ctx.reask("common/choices", options=[label for _, label in ctx.data.get(CHOICES_KEY) or []])


def _photos(ctx: Context) -> list[list[str]]:
    return list(ctx.data.get("photos") or [])


def _with_photo(ctx: Context) -> list[list[str]]:
    """The photos so far plus this message's (a re-sent photo is kept once)."""
    photos = _photos(ctx)
    if all(media_id != ctx.message.media_id for media_id, _ in photos):
        photos.append([ctx.message.media_id, ctx.message.picture_url])
    return photos


# --- the survey (registered first: 不满意 must not start a new complaint while a score is awaited) ---


async def _survey_pending(ctx: Context) -> bool:
    return await survey.awaiting_survey(ctx.message.openid) is not None


@router.start(
    flow="complaint_survey",
    patterns=(r"^\s*[1-5１-５]\s*分?\s*$",),
    keywords=("满意",),
    when=_survey_pending,
)
async def survey_answer(ctx: Context) -> Reply:
    answer = survey.parse_answer(ctx.text)
    pending = await survey.awaiting_survey(ctx.message.openid) if answer is not None else None
    if pending is None or answer is None:
        if any(word in ctx.text for word in COMPLAINT_WORDS):
            return await start_complaint(ctx)
        return ctx.say("common/help")
    try:
        outcome = await survey.answer(
            pending.id, ctx.message.openid, answer, _notices(ctx), ctx.services.clock.now()
        )
    except InvalidState:
        return ctx.say("complaint/survey_already")
    complaint = outcome.complaint
    if outcome.reopened:
        return ctx.say(
            "complaint/survey_reopened",
            number=complaint.number,
            assignee=complaint.assignee,
            due=complaint.due_at.astimezone(ctx.services.settings.tz),
        )
    return ctx.say("complaint/survey_thanks", number=complaint.number, score=answer.score)


# --- filing ---


@router.start("COMPLAINT", flow=FLOW, keywords=COMPLAINT_WORDS)
async def start_complaint(ctx: Context) -> Reply:
    current = await intake.open_complaint_of(ctx.message.openid)
    if current is None:
        return _ask_category(ctx, flow=FLOW)
    return ctx.choose(
        "existing",
        "complaint/existing",
        options=[
            ("add", ctx.render("complaint/option_add", number=current.number)),
            ("new", ctx.render("complaint/option_new")),
        ],
        flow=FLOW,
        number=current.number,
        complaint_id=current.id,
    )


def _ask_category(ctx: Context, **flow: Any) -> Reply:
    return ctx.choose(
        "category", "complaint/ask_category", options=[(c.value, c.label) for c in ComplaintCategory], **flow
    )


@router.step(FLOW, "existing")
async def on_existing(ctx: Context) -> Reply:
    picked = ctx.picked()
    if picked == "add":
        return ctx.ask("add", "complaint/ask_addition", photos=[])
    if picked == "new":
        return _ask_category(ctx)
    return _repeat_choices(ctx)


@router.step(FLOW, "category")
async def on_category(ctx: Context) -> Reply:
    picked = ctx.picked()
    if picked is None:
        return _repeat_choices(ctx)
    return ctx.ask("description", "complaint/ask_description", category=picked)


@router.step(FLOW, "description")
async def on_description(ctx: Context) -> Reply:
    if not ctx.text or len(ctx.text) > MAX_TEXT_LENGTH:
        return ctx.reask("complaint/bad_description", max=MAX_TEXT_LENGTH)
    return ctx.ask("photos", "complaint/ask_photos", description=ctx.text, photos=[])


@router.step(FLOW, "photos", accepts=(Kind.TEXT, Kind.IMAGE))
async def on_photo(ctx: Context) -> Reply:
    if ctx.message.kind is Kind.IMAGE:
        if len(_photos(ctx)) >= MAX_PHOTOS:
            return ctx.say("complaint/photos_full", max=MAX_PHOTOS)
        photos = _with_photo(ctx)
        return ctx.ask("photos", "complaint/photo_received", photos=photos, count=len(photos))
    if _word(ctx) not in DONE_WORDS:
        return ctx.reask("complaint/photos_hint")
    customer = ctx.customer
    if customer is None:
        return ctx.ask("phone", "complaint/ask_phone")
    options = await related.recent_for(customer.id)
    if not options:
        return _summary(ctx)
    return ctx.choose(
        "related",
        "complaint/ask_related",
        options=[
            *(
                (_related_value(r), ctx.render("complaint/related_option", kind=r.kind, label=r.label))
                for r in options
            ),
            (NO_RELATED, ctx.render("complaint/option_no_related")),
        ],
    )


def _related_value(record: RelatedRecord) -> list[Any]:
    return [record.kind, record.id, record.label]


@router.step(FLOW, "related")
async def on_related(ctx: Context) -> Reply:
    picked = ctx.picked()
    if picked is None:
        return _repeat_choices(ctx)
    return _summary(ctx, related=None if picked == NO_RELATED else picked)


@router.step(FLOW, "phone")
async def on_phone(ctx: Context) -> Reply:
    phone = parse_mobile(ctx.text)
    if phone is None:
        return ctx.reask("complaint/bad_phone")
    return _summary(ctx, phone=phone)


def _summary(ctx: Context, **data: Any) -> Reply:
    assert ctx.flow is not None
    ctx.flow = ctx.flow.at("confirm", **{CHOICES_KEY: None, **data})
    values = ctx.data
    related_record = values.get("related")
    customer = ctx.customer
    return ctx.say(
        "complaint/summary",
        category=ComplaintCategory(values["category"]).label,
        description=values["description"],
        photos=len(values.get("photos") or []),
        related=ctx.render("complaint/related_option", kind=related_record[0], label=related_record[2])
        if related_record
        else "",
        phone=mask_mobile(values.get("phone") or (customer.phone if customer else "")),
    )


@router.step(FLOW, "confirm")
async def on_confirm(ctx: Context) -> Reply:
    if _word(ctx) not in CONFIRM_WORDS:
        return ctx.reask("complaint/confirm_hint")
    values, customer = ctx.data, ctx.customer
    related_record = values.get("related")
    new = NewComplaint(
        openid=ctx.message.openid,
        category=ComplaintCategory(values["category"]),
        description=values["description"],
        intake_key=f"{ctx.message.openid}:{ctx.message.key}",
        phone=values.get("phone") or "",
        customer_id=customer.id if customer else None,
        own_advisor_id=(customer.advisor_id if customer else None) or ctx.follower.advisor_id,  # type: ignore[attr-defined]
        photos=tuple(IncomingPhoto(media_id, url) for media_id, url in values.get("photos") or []),
        related=RelatedRecord(*related_record) if related_record else None,
    )
    now = ctx.services.clock.now()
    filed = await intake.file_complaint(new, _notices(ctx), now)
    complaint, tz = filed.complaint, ctx.services.settings.tz
    return ctx.finish(
        "complaint/filed",
        number=complaint.number,
        assignee=complaint.assignee,
        response_due=complaint.response_due_at.astimezone(tz),
        due=complaint.due_at.astimezone(tz),
    )


# --- adding to an open complaint ---


@router.step(FLOW, "add", accepts=(Kind.TEXT, Kind.IMAGE))
async def on_addition(ctx: Context) -> Reply:
    if ctx.message.kind is Kind.IMAGE:
        photos = _with_photo(ctx)[:MAX_PHOTOS]
        return ctx.ask("add", "complaint/addition_photo", photos=photos, count=len(photos))
    done = _word(ctx) in DONE_WORDS
    added = tuple(IncomingPhoto(media_id, url) for media_id, url in _photos(ctx))
    if done and not added:
        return ctx.reask("complaint/addition_hint")
    try:
        await intake.add_from_customer(
            ctx.data["complaint_id"],
            ctx.message.openid,
            _notices(ctx),
            ctx.services.clock.now(),
            source_key=f"{ctx.message.openid}:{ctx.message.key}",
            text="" if done else ctx.text,
            added_photos=added,
        )
    except InvalidState:
        return ctx.finish("complaint/not_open", number=ctx.data["number"])
    except ComplaintError:
        return ctx.reask("complaint/bad_description", max=MAX_TEXT_LENGTH)
    return ctx.finish("complaint/added", number=ctx.data["number"])
