"""Reply wording: a dealer's folder overrides the shipped text; fixed texts are rendered once."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from bot.conversation.texts import Texts


def test_a_dealers_template_overrides_the_shipped_one_and_others_fall_back(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "help.txt.j2").write_text("本店帮助\n", encoding="utf-8")

    texts = Texts(tmp_path)

    assert texts.render("common/help") == "本店帮助"
    assert texts.render("common/help") == "本店帮助"  # the second time from the rendered copy
    assert texts.render("common/cancelled") == Texts().render("common/cancelled")


def test_values_still_reach_a_template_once_it_was_rendered_without_them(tmp_path: Path) -> None:
    greeting = "{% if name is defined %}{{ name }}，{% endif %}您好"
    (tmp_path / "greeting.txt.j2").write_text(greeting, encoding="utf-8")
    texts = Texts(tmp_path)

    assert texts.render("greeting") == "您好"
    assert texts.render("greeting", name="张伟") == "张伟，您好"


def test_a_template_that_needs_values_refuses_to_render_without_them_every_time() -> None:
    texts = Texts()

    for _ in range(2):
        with pytest.raises(jinja2.UndefinedError):
            texts.render("common/offer_person")
