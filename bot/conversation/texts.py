"""Reply wording: jinja2 templates under bot/templates/replies, overridable per dealer.

A dealer edits wording by pointing BOT_TEMPLATES_DIR at a folder of templates with the same
names (read at start-up: restart the bot after editing); anything not overridden falls back
to the shipped text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "replies"


class Texts:
    def __init__(self, override_dir: Path | None = None) -> None:
        folders = [str(override_dir)] if override_dir else []
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, str(SHIPPED_TEMPLATES)]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
            auto_reload=False,  # no file check per message: edited wording applies on restart
        )
        self._fixed: dict[str, str] = {}

    def render(self, name: str, /, **values: Any) -> str:
        """Render `name` (e.g. "binding/ask_phone") to the text sent to the customer.

        A template rendered without values reads the same every time (StrictUndefined refuses
        one that expects some), so it is rendered once: many replies are such (help, 请输入手机号).
        """
        if values:
            return self._render(name, values)
        fixed = self._fixed.get(name)
        if fixed is None:
            fixed = self._fixed[name] = self._render(name, values)
        return fixed

    def _render(self, name: str, values: dict[str, Any]) -> str:
        return self._env.get_template(f"{name}.txt.j2").render(**values).strip()
