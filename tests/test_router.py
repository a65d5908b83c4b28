"""Free-text routing: keywords are plain text, patterns are expressions, menu-only flows never
start from text, and the first matching route in priority order wins."""

from __future__ import annotations

from bot.conversation.replies import NoReply, Reply
from bot.conversation.router import Router, Routes


async def nothing(ctx: object) -> Reply:
    return NoReply()


def routes() -> Routes:
    router = Router("test")
    router.start("MENU_ONLY", flow="menu_only")(nothing)
    router.start(flow="price", keywords=("多少钱?", "价格(含工时)"))(nothing)
    router.start(flow="score", patterns=(r"^\s*[1-5]\s*分?\s*$",))(nothing)
    router.start(flow="both", keywords=("保养",), patterns=(r"\d{4}-\d{2}",))(nothing)
    router.start(flow="later", keywords=("保养",))(nothing)
    return Routes([router])


def matching(text: str) -> list[str]:
    return [route.flow for route in routes().starts if route.matches_text(text)]


def test_keywords_match_as_plain_text_anywhere_in_the_message() -> None:
    assert matching("换机油多少钱?") == ["price"]
    assert matching("多少钱") == []  # the "?" is part of the keyword, not an expression
    assert matching("价格(含工时)是?") == ["price"]


def test_patterns_keep_their_anchors() -> None:
    assert matching(" 4 分") == ["score"]
    assert matching("我给4分") == []


def test_a_route_with_keywords_and_patterns_matches_either_and_order_is_kept() -> None:
    assert matching("想做保养") == ["both", "later"]
    assert matching("2026-11 来") == ["both"]


def test_a_menu_only_route_never_starts_from_text() -> None:
    assert matching("") == []
    assert matching("MENU_ONLY menu_only") == []
