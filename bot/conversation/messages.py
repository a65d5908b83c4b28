"""Typed inbound messages: what every handler sees instead of WeChat's XML."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    TEXT = "text"
    CLICK = "click"
    NOTICE = "notice"  # view clicks, location reports, delivery receipts: no answer needed
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "scan"
    LOCATION = "location"
    IMAGE = "image"
    OTHER = "other"

    @property
    def is_user_message(self) -> bool:
        """Messages the customer wrote (they open the 48-hour customer-service window)."""
        return self in (Kind.TEXT, Kind.LOCATION, Kind.IMAGE, Kind.OTHER)


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class Incoming:
    """One message or event from one customer. `key` is WeChat's retry identity for it."""

    key: str
    openid: str
    account: str
    kind: Kind
    created_at: datetime
    text: str = ""
    event_key: str = ""
    location: Location | None = None
    media_id: str = ""
    picture_url: str = ""
    original_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def qr_scene(self) -> str:
        """The scene of a parametric QR code (subscribe via QR carries a `qrscene_` prefix)."""
        if self.kind in (Kind.SUBSCRIBE, Kind.SCAN) and self.event_key:
            return self.event_key.removeprefix("qrscene_")
        return ""

    def log_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.original_type or self.kind.value}
        if self.text:
            body["text"] = self.text
        if self.event_key:
            body["event_key"] = self.event_key
        if self.location:
            body["location"] = [self.location.latitude, self.location.longitude, self.location.label]
        if self.media_id:
            body["media_id"] = self.media_id
        if self.picture_url:
            body["picture_url"] = self.picture_url
        return body
