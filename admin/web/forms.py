"""Reading submitted forms: each field parsed, every problem collected as a Chinese message.

A view builds a `Form` from the posted data, reads its fields (bad ones give a default and an
error), and either saves when `form.ok` or renders the page again with `form.errors` and the
values the user typed, so bad input changes nothing and loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from multidict import MultiDictProxy

from bot.conversation.validators import parse_mobile


class Form:
    def __init__(self, data: MultiDictProxy[Any] | Mapping[str, Any]) -> None:
        self.values: dict[str, str] = {
            key: value.strip() for key, value in data.items() if isinstance(value, str)
        }
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(
        self,
        name: str,
        label: str,
        *,
        required: bool = False,
        max_length: int = 100,
        pattern: str | None = None,
        hint: str = "",
    ) -> str:
        value = self.values.get(name, "")
        if required and not value:
            self.error(name, f"请填写{label}")
        elif len(value) > max_length:
            self.error(name, f"{label}最多{max_length}个字符")
        elif value and pattern and not re.fullmatch(pattern, value):
            self.error(name, f"{label}格式不正确{('：' + hint) if hint else ''}")
        return value

    def number(
        self, name: str, label: str, *, low: float, high: float, required: bool = False
    ) -> float | None:
        raw = self.values.get(name, "")
        if not raw:
            if required:
                self.error(name, f"请填写{label}")
            return None
        try:
            value = float(raw)
        except ValueError:
            self.error(name, f"{label}应为数字")
            return None
        if not low <= value <= high:
            self.error(name, f"{label}应在 {low:g} 到 {high:g} 之间")
            return None
        return value

    def mobile(self, name: str, label: str) -> str:
        value = parse_mobile(self.values.get(name, ""))
        if value is None:
            self.error(name, f"请填写正确的11位{label}")
            return ""
        return value

    def choice(self, name: str, label: str, choices: Iterable[str], *, required: bool = True) -> str | None:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.error(name, f"请选择{label}")
            return None
        if value not in set(choices):
            self.error(name, f"{label}无效")
            return None
        return value

    def checkbox(self, name: str) -> bool:
        return self.values.get(name) in {"on", "1", "true"}
