"""The async WeChat Official Account API client: one method per API the bot uses.

Every call carries the shared access token. A rejected token is refreshed once (by one caller
for all, see `token_cache`) and the call retried once; 'system busy' and rate limits are retried
a bounded number of times with exponential backoff; a message that can never reach the customer
raises `Undeliverable`; anything else raises `WeChatError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from bot.settings import DEFAULT_WECHAT_API_BASE, Settings
from bot.wechat.errors import WeChatError, WeChatUnavailable, error_for
from bot.wechat.token_cache import IssuedToken, TokenCache

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Decode = Callable[[str, bytes], T]  # (content type, body) -> result, raising on an error answer

WECHAT_QRCODE_IMAGE_BASE = "https://mp.weixin.qq.com"  # showqrcode is not on the API host
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)


class WeChatClient:
    """Calls WeChat through a shared `aiohttp.ClientSession` (one per process, never per call)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        tokens: TokenCache,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
    ) -> None:
        self._session = session
        self._settings = settings
        self._tokens = tokens
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._base = settings.wechat_api_base.rstrip("/")

    async def send_text(self, openid: str, text: str) -> None:
        """Send a customer-service text message (only inside the customer's service window).

        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
        """
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._call_json("POST", "/cgi-bin/message/custom/send", body=body)

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], url: str | None = None
    ) -> int:
        """Send a template message (service notices only); returns WeChat's msgid.

        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if url is not None:
            body["url"] = url
        answer = await self._call_json("POST", "/cgi-bin/message/template/send", body=body)
        return int(answer.get("msgid", 0))

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Replace the account's custom menu.

        https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
        """
        await self._call_json("POST", "/cgi-bin/menu/create", body=menu)

    async def create_qrcode(self, scene_str: str, expire_seconds: int | None = None) -> dict[str, Any]:
        """Create a QR code carrying `scene_str`; permanent unless `expire_seconds` is given.

        Returns WeChat's answer: `ticket`, `url` (and `expire_seconds` for temporary codes).
        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if expire_seconds is None:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            body["action_name"] = "QR_STR_SCENE"
            body["expire_seconds"] = expire_seconds
        return await self._call_json("POST", "/cgi-bin/qrcode/create", body=body)

    def qrcode_image_url(self, ticket: str) -> str:
        """The image of a QR code; needs no token, so it can go straight into a page.

        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        base = WECHAT_QRCODE_IMAGE_BASE if self._base == DEFAULT_WECHAT_API_BASE else self._base
        return f"{base}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    async def user_info(self, openid: str) -> dict[str, Any]:
        """A follower's profile: `subscribe`, `subscribe_time`, `subscribe_scene`, ...

        https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
        """
        return await self._call_json("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"})

    async def get_media(self, media_id: str) -> bytes:
        """Download a temporary media file a customer sent (a photo of the damage, say).

        https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html
        """
        return await self._call(
            "GET", "/cgi-bin/media/get", params={"media_id": media_id}, decode=_media_answer
        )

    async def _call_json(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._call(method, path, body=body, params=params, decode=_json_answer)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        decode: Decode[T],
    ) -> T:
        """Call an API with the shared token: one refresh on rejection, bounded backoff when busy."""
        rejected: str | None = None
        busy_attempts = 0
        while True:
            token = await self._tokens.get(self._fetch_token, rejected=rejected)
            try:
                return await self._request(
                    method, path, body=body, params={**(params or {}), "access_token": token}, decode=decode
                )
            except WeChatError as exc:
                if exc.token_rejected and rejected is None:
                    logger.info(
                        "wechat token rejected, refreshing", extra={"path": path, "errcode": exc.errcode}
                    )
                    rejected = token
                    continue
                busy_attempts += 1
                if not exc.retry_later or busy_attempts >= self._max_attempts:
                    raise
                delay = self._backoff_base * 2 ** (busy_attempts - 1)
                logger.warning(
                    "wechat busy, retrying",
                    extra={"path": path, "errcode": exc.errcode, "attempt": busy_attempts, "delay": delay},
                )
                await self._sleep(delay)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        decode: Decode[T],
    ) -> T:
        """One HTTP round trip; transport trouble becomes `WeChatUnavailable`."""
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.request(
                method,
                self._base + path,
                params=params,
                data=payload,
                headers=None if payload is None else {"Content-Type": "application/json; charset=utf-8"},
                timeout=REQUEST_TIMEOUT,
            ) as response:
                content = await response.read()
                if response.status != 200:
                    raise WeChatUnavailable(f"{path} answered HTTP {response.status}")
                return decode(response.content_type, content)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatUnavailable(f"{path}: {exc!r}") from exc

    async def _fetch_token(self, force_refresh: bool) -> IssuedToken:
        """Get a stable access token; `force_refresh` only after WeChat rejected the cached one.

        https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
        """
        body = {
            "grant_type": "client_credential",
            "appid": self._settings.wechat_appid,
            "secret": self._settings.wechat_secret,
            "force_refresh": force_refresh,
        }
        answer = await self._request(
            "POST", "/cgi-bin/stable_token", body=body, params=None, decode=_json_answer
        )
        return IssuedToken(value=str(answer["access_token"]), expires_in=int(answer["expires_in"]))


def _json_answer(content_type: str, content: bytes) -> dict[str, Any]:
    """WeChat answers HTTP 200 whatever happened: the `errcode` field says what did."""
    try:
        answer = json.loads(content)
    except ValueError as exc:
        raise WeChatUnavailable(f"unreadable answer ({content_type}): {content[:100]!r}") from exc
    if not isinstance(answer, dict):
        raise WeChatUnavailable(f"answer is a JSON {type(answer).__name__}, not an object")
    if answer.get("errcode", 0) != 0:
        raise error_for(int(answer["errcode"]), str(answer.get("errmsg", "")))
    return answer


def _media_answer(content_type: str, content: bytes) -> bytes:
    """A media file comes as itself; an error comes as JSON."""
    if content_type in {"application/json", "text/plain"}:
        _json_answer(content_type, content)
    return content
