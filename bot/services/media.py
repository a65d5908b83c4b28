"""Keeping what customers send: WeChat media fetched through the API into a local media folder.

WeChat deletes temporary media after 3 days, so a photo attached to a complaint or a rescue must
be copied while it still exists. Files are named after a hash of the media id (media ids are
WeChat's, not safe as file names) and written atomically, so a crash leaves no half file and
a repeated fetch rewrites the same file.
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.wechat.client import WeChatClient

MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WeChat's own limit for images is 10 MB
_SIGNATURES = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF8", ".gif"))


class MediaError(Exception):
    """The media could not be stored (too large, or a path outside the media folder)."""


@dataclass(frozen=True)
class StoredMedia:
    path: str  # relative to the media folder, '/'-separated
    size: int


async def fetch_into(wechat: WeChatClient, media_id: str, folder: Path, *, subdir: str) -> StoredMedia:
    """Download `media_id` and store it under `folder/subdir`; raises WeChatError or MediaError."""
    content = await wechat.get_media(media_id)
    if len(content) > MAX_MEDIA_BYTES:
        raise MediaError(f"media {media_id} is {len(content)} bytes, more than {MAX_MEDIA_BYTES}")
    name = hashlib.sha256(media_id.encode()).hexdigest()[:32] + _extension(content)
    relative = PurePosixPath(subdir) / name
    await asyncio.to_thread(_write_atomically, resolve(folder, str(relative)), content)
    return StoredMedia(path=str(relative), size=len(content))


def resolve(folder: Path, relative: str) -> Path:
    """The file for a stored relative path; refuses paths that climb out of the media folder."""
    root = folder.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise MediaError(f"{relative!r} is outside the media folder")
    return target


def _extension(content: bytes) -> str:
    return next((ext for signature, ext in _SIGNATURES if content.startswith(signature)), ".bin")


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_bytes(content)
    os.replace(partial, target)
