"""Reply XML as WeChat reads it: whatever the text holds, the customer gets it back intact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from wechatpy import parse_message

from bot.conversation.messages import Incoming, Kind
from bot.conversation.replies import NoReply, TextReply, TransferReply
from bot.wechat import protocol

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
INCOMING = Incoming(key="1", openid="o-customer", account="gh_dealer", kind=Kind.TEXT, created_at=NOW)


@pytest.mark.parametrize(
    ("text", "read_back"),
    [
        ("您好，请回复手机号", "您好，请回复手机号"),
        ("车牌「粤B]]>12345」无法识别", "车牌「粤B]]>12345」无法识别"),  # would end a plain CDATA section
        ("]]>]]>", "]]>]]>"),
        ("a\x00b\x08c\x1fd\ttab\nline", "abcd\ttab\nline"),  # characters XML forbids are dropped
        ("<b>&amp;</b>", "<b>&amp;</b>"),
    ],
)
def test_a_text_reply_reads_back_as_written(text: str, read_back: str) -> None:
    wire = protocol.render_reply(TextReply(text), INCOMING, NOW)

    message = parse_message(wire)

    assert message.content == read_back
    assert (message.source, message.target) == ("gh_dealer", "o-customer")  # the account to the customer
    assert message.time == int(NOW.timestamp())
    assert protocol.parse_xml(wire)["MsgType"] == "text"


def test_a_transfer_and_no_reply() -> None:
    transfer = protocol.parse_xml(protocol.render_reply(TransferReply(), INCOMING, NOW))

    assert transfer["MsgType"] == "transfer_customer_service"
    assert transfer["ToUserName"] == "o-customer"
    assert protocol.render_reply(NoReply(), INCOMING, NOW) == b"success"
