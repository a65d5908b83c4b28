"""What can go wrong when talking to WeChat, sorted by what the caller should do about it.

WeChat answers HTTP 200 with an `errcode`; the codes below decide whether the client refreshes
its token, waits and retries, or gives up because the message can never reach the customer.
See https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
"""

from __future__ import annotations

TOKEN_REJECTED = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, expired
RETRY_LATER = frozenset({-1, 45009, 45011, 45047})  # system busy, rate and quota limits
UNDELIVERABLE = frozenset(
    {
        40003,  # invalid openid
        43004,  # the user does not follow the account
        43101,  # the user refused this kind of message
        45015,  # the customer-service window has closed
    }
)


class WeChatError(Exception):
    """WeChat refused a call with `errcode`; the message is kept for logs and the outbox."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def token_rejected(self) -> bool:
        return self.errcode in TOKEN_REJECTED

    @property
    def retry_later(self) -> bool:
        return self.errcode in RETRY_LATER


class Undeliverable(WeChatError):
    """This message cannot reach this customer (not following, window closed, refused)."""


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached or gave no usable answer: as transient as 'system busy' (-1)."""

    def __init__(self, reason: str) -> None:
        super().__init__(-1, reason)


def error_for(errcode: int, errmsg: str) -> WeChatError:
    """The exception for an error answer, so callers can catch `Undeliverable` by type."""
    cls = Undeliverable if errcode in UNDELIVERABLE else WeChatError
    return cls(errcode, errmsg)
