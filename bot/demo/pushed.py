"""What the bot pushed to one openid, read from the fake WeChat's `GET /_fake/messages`.

Both simulators show pushed messages (customer-service and template messages, late replies)
this way, over HTTP, as anything outside the bot process would see them.
"""

from __future__ import annotations

from typing import Any

import aiohttp


async def fetch_pushed(
    session: aiohttp.ClientSession, fake_url: str, openid: str, since: int
) -> list[dict[str, Any]]:
    """Messages sent to `openid` with an index of at least `since`, oldest first."""
    params = {"openid": openid, "since": str(since)}
    async with session.get(f"{fake_url}/_fake/messages", params=params) as response:
        response.raise_for_status()
        messages: list[dict[str, Any]] = await response.json()
    return messages
