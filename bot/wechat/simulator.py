"""Plays WeChat's side of `/wechat`: signed (optionally encrypted) messages from one openid.

Used by `python -m bot simulate`, the tests and the benchmark, so all of them exercise the real
endpoint over real HTTP exactly as WeChat's servers would.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import aiohttp
from wechatpy.crypto import WeChatCrypto

from bot.wechat import protocol

_msg_ids = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    text: str = ""  # the reply's Content, empty for `success` or a transfer
    msg_type: str = ""  # text, transfer_customer_service, or "" for `success`


@dataclass
class WeChatUser:
    base_url: str
    session: aiohttp.ClientSession
    openid: str
    token: str
    account: str = "gh_demo_account"
    aes_key: str | None = None
    appid: str = ""
    now: float | None = None  # fixed epoch seconds for tests with a frozen clock
    _create_times: itertools.count[int] = field(default_factory=lambda: itertools.count(0))

    def _timestamp(self) -> int:
        return int(self.now if self.now is not None else time.time())

    def xml(self, msg_type: str, fields: dict[str, str], *, msg_id: int | None = None) -> bytes:
        """A message as WeChat would send it; events have no MsgId."""
        created = self._timestamp() + next(self._create_times) if msg_type == "event" else self._timestamp()
        parts = [
            f"<ToUserName><![CDATA[{self.account}]]></ToUserName>",
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>",
            f"<CreateTime>{created}</CreateTime>",
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
            *(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()),
        ]
        if msg_type != "event":
            parts.append(f"<MsgId>{msg_id if msg_id is not None else next(_msg_ids)}</MsgId>")
        return ("<xml>" + "".join(parts) + "</xml>").encode()

    async def text(self, content: str, *, msg_id: int | None = None) -> Answer:
        return await self.post(self.xml("text", {"Content": content}, msg_id=msg_id))

    async def click(self, key: str) -> Answer:
        return await self.post(self.xml("event", {"Event": "CLICK", "EventKey": key}))

    async def subscribe(self, scene: str | None = None) -> Answer:
        fields = {"Event": "subscribe"}
        if scene:
            fields["EventKey"] = f"qrscene_{scene}"
        return await self.post(self.xml("event", fields))

    async def unsubscribe(self) -> Answer:
        return await self.post(self.xml("event", {"Event": "unsubscribe"}))

    async def scan(self, scene: str) -> Answer:
        return await self.post(self.xml("event", {"Event": "SCAN", "EventKey": scene}))

    async def location(self, latitude: float, longitude: float, label: str = "") -> Answer:
        fields = {"Location_X": str(latitude), "Location_Y": str(longitude), "Scale": "15", "Label": label}
        return await self.post(self.xml("location", fields))

    async def image(self, media_id: str, url: str = "http://127.0.0.1/img.jpg") -> Answer:
        return await self.post(self.xml("image", {"PicUrl": url, "MediaId": media_id}))

    async def voice(self, recognition: str, media_id: str = "voice-1") -> Answer:
        fields = {"MediaId": media_id, "Format": "amr", "Recognition": recognition}
        return await self.post(self.xml("voice", fields))

    def signed_request(self, body: bytes) -> tuple[dict[str, str], bytes]:
        """Query parameters and body as WeChat signs them (safe mode when an AES key is set)."""
        timestamp, nonce = str(self._timestamp()), secrets.token_hex(8)
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": protocol.signature(self.token, timestamp, nonce),
            "openid": self.openid,
        }
        if self.aes_key:
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
            envelope = protocol.parse_xml(crypto.encrypt_message(body.decode(), nonce, timestamp).encode())
            encrypted = envelope["Encrypt"]
            params |= {"encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
            body = (
                f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            ).encode()
        return params, body

    async def post(self, body: bytes) -> Answer:
        params, wire_body = self.signed_request(body)
        async with self.session.post(f"{self.base_url}/wechat", params=params, data=wire_body) as response:
            raw = await response.read()
        return self.read_answer(response.status, raw, params)

    def read_answer(self, status: int, raw: bytes, params: dict[str, str]) -> Answer:
        if status != 200 or raw in (b"", protocol.SUCCESS):
            return Answer(status, raw)
        if self.aes_key:
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
            envelope = protocol.parse_xml(raw)
            raw = crypto.decrypt_message(
                raw, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
            raw = raw.encode() if isinstance(raw, str) else raw
        fields = protocol.parse_xml(raw)
        return Answer(status, raw, fields.get("Content", ""), fields.get("MsgType", ""))
