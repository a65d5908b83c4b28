"""Settings read once from the environment, typed, and validated at start-up.

A bad value stops the process with one readable message naming every problem, instead of a
stack trace deep inside a request much later.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite://var/bot.sqlite3"
DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """One or more environment variables are missing or malformed."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    wechat_token: str = "demo-token"
    wechat_appid: str = "wx-demo-appid"
    wechat_secret: str = "demo-secret"
    wechat_aes_key: str | None = None
    wechat_api_base: str = DEFAULT_WECHAT_API_BASE
    host: str = "127.0.0.1"
    port: int = 8080
    timezone: str = "Asia/Shanghai"
    api_keys: tuple[str, ...] = ()
    session_secret: str | None = None
    reply_budget_seconds: float = 4.0
    max_body_bytes: int = 64 * 1024
    max_clock_skew_seconds: int = 300
    templates_dir: Path | None = None
    media_dir: Path = Path("var/media")
    template_ids: Mapping[str, str] = field(default_factory=dict)
    # reverse proxies (nginx) whose X-Forwarded-For names the real client
    trusted_proxies: tuple[Network, ...] = ()
    admin_idle_minutes: int = 30
    max_upload_bytes: int = 20 * 1024 * 1024  # admin imports (CSV/Excel)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse the environment; raise SettingsError listing every bad variable."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def text(name: str, default: str | None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = text(name, None)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a whole number")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={value} is outside {low}..{high}")
            return value

        database_url = text("BOT_DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL
        if urlparse(database_url).scheme not in {"sqlite", "postgres", "asyncpg", "psycopg"}:
            problems.append(f"BOT_DATABASE_URL must be sqlite://... or postgres://..., got {database_url!r}")

        redis_url = text("BOT_REDIS_URL", None)
        if redis_url and urlparse(redis_url).scheme not in {"redis", "rediss", "unix"}:
            problems.append(f"BOT_REDIS_URL must be redis://..., got {redis_url!r}")

        aes_key = text("WECHAT_AES_KEY", None)
        if aes_key is not None and not _is_valid_aes_key(aes_key):
            problems.append("WECHAT_AES_KEY must be the 43-character EncodingAESKey from the WeChat console")

        api_base = (text("WECHAT_API_BASE", DEFAULT_WECHAT_API_BASE) or "").rstrip("/")
        if urlparse(api_base).scheme not in {"http", "https"}:
            problems.append(f"WECHAT_API_BASE must be an http(s) URL, got {api_base!r}")

        timezone = text("BOT_TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"BOT_TIMEZONE={timezone!r} is not a known time zone")

        api_keys = tuple(k.strip() for k in (text("BOT_API_KEYS", "") or "").split(",") if k.strip())
        short_keys = [k for k in api_keys if len(k) < 16]
        if short_keys:
            problems.append("BOT_API_KEYS entries must be at least 16 characters each")

        trusted_proxies: list[Network] = []
        for entry in filter(None, (e.strip() for e in (text("BOT_TRUSTED_PROXIES", "") or "").split(","))):
            try:
                trusted_proxies.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                problems.append(f"BOT_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network")

        templates_dir = text("BOT_TEMPLATES_DIR", None)
        template_ids = {
            key.removeprefix("WECHAT_TEMPLATE_").lower(): value
            for key, value in env.items()
            if key.startswith("WECHAT_TEMPLATE_") and value
        }

        settings = cls(
            database_url=database_url,
            redis_url=redis_url,
            wechat_token=text("WECHAT_TOKEN", cls.wechat_token) or cls.wechat_token,
            wechat_appid=text("WECHAT_APPID", cls.wechat_appid) or cls.wechat_appid,
            wechat_secret=text("WECHAT_SECRET", cls.wechat_secret) or cls.wechat_secret,
            wechat_aes_key=aes_key,
            wechat_api_base=api_base,
            host=text("BOT_HOST", cls.host) or cls.host,
            port=integer("BOT_PORT", cls.port, 1, 65535),
            timezone=timezone,
            api_keys=api_keys,
            session_secret=text("BOT_SESSION_SECRET", None),
            reply_budget_seconds=integer("BOT_REPLY_BUDGET_MS", 4000, 100, 4800) / 1000,
            max_body_bytes=integer("BOT_MAX_BODY_BYTES", cls.max_body_bytes, 1024, 1024 * 1024),
            templates_dir=Path(templates_dir) if templates_dir else None,
            media_dir=Path(text("BOT_MEDIA_DIR", "var/media") or "var/media"),
            template_ids=template_ids,
            trusted_proxies=tuple(trusted_proxies),
            admin_idle_minutes=integer("BOT_ADMIN_IDLE_MINUTES", cls.admin_idle_minutes, 1, 24 * 60),
            max_upload_bytes=integer("BOT_MAX_UPLOAD_MB", 20, 1, 200) * 1024 * 1024,
        )
        if problems:
            raise SettingsError("Invalid configuration:\n  - " + "\n  - ".join(problems))
        return settings


def _is_valid_aes_key(key: str) -> bool:
    if len(key) != 43:
        return False
    try:
        return len(base64.b64decode(key + "=")) == 32
    except (binascii.Error, ValueError):
        return False
