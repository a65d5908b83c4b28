"""WeChat's message protocol as pure functions: signatures, XML in and out.

No network and no state here. XML is read with expat (C) and any DTD is refused the moment it
starts (WeChat never sends one): without a DTD no entity can be declared, so entity-expansion
and external-entity payloads stop there. defusedxml does the same through a parser written in
Python, several times slower per message. wechatpy's type registries then give the message its
type. Replies are written as strings, their text made safe for CDATA.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from bot.conversation.messages import Incoming, Kind, Location
from bot.conversation.replies import NoReply, Reply, TextReply, TransferReply

SUCCESS = b"success"


class BadMessage(ValueError):
    """The body is not a WeChat message we can read."""


def signature(token: str, *parts: str) -> str:
    """WeChat's SHA-1 over the sorted token, timestamp, nonce (and ciphertext in safe mode)."""
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def parse_xml(body: bytes) -> dict[str, str]:
    """The flat fields of a WeChat XML document (the root's children); BadMessage for anything else."""
    fields = _FlatFields()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.StartElementHandler = fields.start
    parser.EndElementHandler = fields.end
    parser.CharacterDataHandler = fields.text
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadMessage(f"unreadable XML: {expat.errors.messages[exc.code]}") from exc
    if fields.root != "xml":
        raise BadMessage("root element is not <xml>")
    return fields.found


class _FlatFields:
    """expat handlers keeping each child of the root with the text directly inside it."""

    def __init__(self) -> None:
        self.root = ""
        self.found: dict[str, str] = {}
        self._depth = 0
        self._texts: list[str] = []

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        self._depth += 1
        if self._depth == 1:
            self.root = tag
        elif self._depth == 2:
            self._texts = []

    def text(self, text: str) -> None:
        if self._depth == 2:
            self._texts.append(text)

    def end(self, tag: str) -> None:
        if self._depth == 2:
            self.found[tag] = "".join(self._texts)
        self._depth -= 1


def _refuse_dtd(*_declaration: object) -> None:
    raise BadMessage("a DTD is not allowed")


def to_incoming(fields: dict[str, str]) -> Incoming:
    """Give the fields their wechatpy type, then our typed message."""
    for required in ("FromUserName", "ToUserName", "CreateTime", "MsgType"):
        if not fields.get(required):
            raise BadMessage(f"missing {required}")
    try:
        created = int(fields["CreateTime"])
    except ValueError as exc:
        raise BadMessage("CreateTime is not a number") from exc
    message_type = fields["MsgType"].lower()
    if message_type == "event":
        event = fields.get("Event", "").lower()
        message = EVENT_TYPES.get(event, UnknownMessage)(fields)
    else:
        message = MESSAGE_TYPES.get(message_type, UnknownMessage)(fields)
    key = fields.get("MsgId") or f"{fields['FromUserName']}:{created}"
    base: dict[str, Any] = {
        "key": key,
        "openid": fields["FromUserName"],
        "account": fields["ToUserName"],
        "created_at": datetime.fromtimestamp(created, UTC),
        "original_type": message_type if message_type != "event" else fields.get("Event", "").lower(),
    }
    return Incoming(**base, **_typed_fields(message_type, message, fields))


def _typed_fields(message_type: str, message: Any, fields: dict[str, str]) -> dict[str, Any]:
    if message_type == "text":
        return {"kind": Kind.TEXT, "text": message.content or ""}
    if message_type == "voice":
        recognised = (fields.get("Recognition") or "").strip()
        return {"kind": Kind.TEXT, "text": recognised} if recognised else {"kind": Kind.OTHER}
    if message_type == "image":
        return {"kind": Kind.IMAGE, "media_id": message.media_id or "", "picture_url": message.image or ""}
    if message_type == "location":
        try:
            location = Location(float(message.location_x), float(message.location_y), message.label or "")
        except (TypeError, ValueError) as exc:
            raise BadMessage("location without coordinates") from exc
        return {"kind": Kind.LOCATION, "location": location}
    if message_type != "event":
        return {"kind": Kind.OTHER}
    event = fields.get("Event", "").lower()
    event_key = fields.get("EventKey", "")
    if event == "click":
        return {"kind": Kind.CLICK, "event_key": event_key}
    if event in ("subscribe", "unsubscribe", "scan"):
        return {"kind": Kind(event), "event_key": event_key}
    return {"kind": Kind.NOTICE, "event_key": event_key}


def render_reply(reply: Reply, incoming: Incoming, now: datetime) -> bytes:
    """The plain reply XML (or `success`); stored once so that every retry gets these bytes.

    Written here rather than by wechatpy's reply classes, which put text into CDATA as it is:
    a "]]>" in a reply (a customer's own words quoted back) ended the section early and WeChat
    could not read the reply. Building the string directly is also several times cheaper.
    """
    if isinstance(reply, NoReply):
        return SUCCESS
    head = (
        f"<xml><ToUserName>{_cdata(incoming.openid)}</ToUserName>"
        f"<FromUserName>{_cdata(incoming.account)}</FromUserName>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime>"
    )
    if isinstance(reply, TextReply):
        body = f"<MsgType><![CDATA[text]]></MsgType><Content>{_cdata(reply.text)}</Content>"
    elif isinstance(reply, TransferReply):
        body = "<MsgType><![CDATA[transfer_customer_service]]></MsgType>"
    else:
        raise TypeError(f"unknown reply {reply!r}")
    return f"{head}{body}</xml>".encode()


def render_encrypted(encrypted: str, signature: str, timestamp: str, nonce: str) -> bytes:
    """Safe mode's envelope around an encrypted reply, as WeChat reads it."""
    return (
        f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt><MsgSignature>{_cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
    ).encode()


def _cdata(text: str) -> str:
    """`text` as CDATA that any XML reader gets back intact: characters XML forbids are dropped,
    and a "]]>" inside is split across two sections."""
    text = _NOT_XML.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
