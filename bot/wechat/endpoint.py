"""`GET/POST /wechat`: the only code that touches WeChat's wire format.

Each request is checked (size, freshness, signature), decrypted in safe mode, parsed, then
handled at most once per WeChat message: retries wait for and repeat the first reply. A handler
that overruns the reply budget is answered with `success` at once; its reply goes out later
through the customer-service API (see `LateReplies`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from aiohttp import web
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from bot import metrics
from bot.clock import Clock
from bot.conversation.dedup import ReplyCache
from bot.conversation.engine import Answer, Engine
from bot.conversation.locks import LocalLocks
from bot.conversation.messages import Incoming
from bot.conversation.replies import Reply, TextReply
from bot.settings import Settings
from bot.wechat import protocol
from bot.wechat.late_replies import LateReplies
from bot.wechat.reply_budget import ReplyBudget

log = logging.getLogger(__name__)


@dataclass
class Endpoint:
    settings: Settings
    clock: Clock
    engine: Engine
    replies: ReplyCache
    late: LateReplies

    def __post_init__(self) -> None:
        key = self.settings.wechat_aes_key
        self._crypto = (
            _SafeMode(WeChatCrypto(self.settings.wechat_token, key, self.settings.wechat_appid).key)
            if key
            else None
        )
        self._arrivals = LocalLocks()
        self._budget = ReplyBudget(self.settings.reply_budget_seconds)

    async def verify(self, request: web.Request) -> web.Response:
        """URL verification: echo `echostr` when the signature is ours."""
        with _refusals_counted():
            self._check_signature(request)
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        safe_mode = request.query.get("encrypt_type", "raw").lower() == "aes"
        with _refusals_counted():
            incoming = await self._read_message(request, safe_mode)
        reply = await self._reply_once(incoming)
        if safe_mode and reply != protocol.SUCCESS:
            reply = self._encrypt(request, reply)
        metrics.HANDLE_SECONDS.observe(time.perf_counter() - started)
        return web.Response(
            body=reply, content_type="application/xml" if reply != protocol.SUCCESS else "text/plain"
        )

    async def _read_message(self, request: web.Request, safe_mode: bool) -> Incoming:
        """The checked, decrypted and parsed message; an HTTP error for anything else."""
        self._check_signature(request)
        body = await self._read_body(request)
        try:
            plain = self._decrypt(request, body) if safe_mode else body
            return protocol.to_incoming(protocol.parse_xml(plain))
        except protocol.BadMessage as exc:
            log.info("refused message", extra={"reason": str(exc)})
            raise web.HTTPBadRequest(text=str(exc)) from None

    async def _reply_once(self, incoming: Incoming) -> bytes:
        budget = self.settings.reply_budget_seconds
        # Logging the message (a database round trip) goes on while it is claimed (one to Redis):
        # a retry's log row is its first copy's, so writing it again changes nothing.
        admission = self.engine.admit(incoming)
        # The claim is a round trip to Redis; without this turnstile a customer's second message,
        # a millisecond behind the first, could queue for the engine's lock ahead of it.
        async with self._arrivals.hold(incoming.openid):
            claimed = await self.replies.claim(incoming.key, incoming.openid)
            handling = (
                asyncio.create_task(self.engine.handle(incoming, admission, partial(self._render, incoming)))
                if claimed
                else None
            )
        if handling is None:
            metrics.RETRIES.inc()
            return await self.replies.wait(incoming.key, budget) or protocol.SUCCESS
        metrics.messages_of(incoming.kind.value).inc()
        return await self._answer_within(handling, incoming)

    async def _answer_within(self, task: asyncio.Task[Answer], incoming: Incoming) -> bytes:
        """The handler's answer (kept with the customer's flow as it finished); otherwise
        `success` or an apology, kept here for the message's retries. Whichever is kept first is
        the answer: a handler finishing just as its budget runs out may have been first."""
        if await self._budget.finished_within(task):
            try:
                return task.result().rendered
            except Exception:
                log.exception("handler failed", extra={"key": incoming.key, "kind": incoming.kind.value})
                apology = self._render(incoming, TextReply(self.engine.services.texts.render("common/error")))
                return await self.replies.store(incoming.key, apology) or apology
        kept = await self.replies.store(incoming.key, protocol.SUCCESS)
        if kept not in (None, protocol.SUCCESS):
            return kept  # the handler's own reply, kept an instant before the budget ran out
        log.warning(
            "handler overran the reply budget", extra={"key": incoming.key, "budget": self._budget.seconds}
        )
        metrics.LATE_REPLIES.inc()
        self.late.adopt(task, incoming)
        return protocol.SUCCESS

    def _render(self, incoming: Incoming, reply: Reply) -> bytes:
        return protocol.render_reply(reply, incoming, self.clock.now())

    def _check_signature(self, request: web.Request) -> None:
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        expected = protocol.signature(self.settings.wechat_token, timestamp, nonce)
        if not protocol.signature_matches(expected, query.get("signature", "")):
            raise web.HTTPForbidden(text="bad signature")
        try:
            age = abs(self.clock.now().timestamp() - int(timestamp))
        except ValueError:
            raise web.HTTPForbidden(text="bad timestamp") from None
        if age > self.settings.max_clock_skew_seconds:
            raise web.HTTPForbidden(text="stale timestamp")

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body, refused once it passes the limit (chunked uploads declare no length)."""
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        body = bytearray()
        while len(body) <= limit:
            chunk = await request.content.read(limit + 1 - len(body))  # returns what has arrived so far
            if not chunk:
                return bytes(body)
            body += chunk
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))

    def _decrypt(self, request: web.Request, body: bytes) -> bytes:
        if self._crypto is None:
            raise protocol.BadMessage("safe mode is not configured (WECHAT_AES_KEY)")
        encrypted = protocol.parse_xml(body).get("Encrypt", "")
        if not encrypted:
            raise protocol.BadMessage("safe-mode body without <Encrypt>")
        query = request.query
        expected = protocol.signature(
            self.settings.wechat_token, query.get("timestamp", ""), query.get("nonce", ""), encrypted
        )
        if not protocol.signature_matches(expected, query.get("msg_signature", "")):
            raise web.HTTPForbidden(text="bad msg_signature")
        try:
            plain = self._crypto.decrypt(encrypted, self.settings.wechat_appid)
        except InvalidAppIdException:
            raise web.HTTPForbidden(text="message for another app") from None
        except Exception as exc:  # padding or base64 errors from a corrupt ciphertext
            raise protocol.BadMessage("undecryptable Encrypt") from exc
        return plain if isinstance(plain, bytes) else plain.encode()

    def _encrypt(self, request: web.Request, reply: bytes) -> bytes:
        """The reply in safe mode's envelope, signed for the request's timestamp and nonce (both
        checked already: the signature covered them and the timestamp is a number)."""
        assert self._crypto is not None
        timestamp, nonce = str(int(request.query["timestamp"])), request.query.get("nonce", "")
        encrypted = self._crypto.encrypt(reply.decode(), self.settings.wechat_appid).decode()
        signature = protocol.signature(self.settings.wechat_token, timestamp, nonce, encrypted)
        return protocol.render_encrypted(encrypted, signature, timestamp, nonce)


class _SafeMode(PrpCrypto):
    """wechatpy's AES scheme for safe mode, set up once (wechatpy's `WeChatCrypto` sets up a
    cipher for every message, a few percent of a message's CPU), with the 16 random characters
    that lead every encrypted reply drawn in one call rather than by `random.sample`, which cost
    as much again. They only vary the ciphertext; the key and the fixed IV are the scheme's."""

    def get_random_string(self) -> str:
        return f"{random.getrandbits(64):016x}"


@contextmanager
def _refusals_counted() -> Iterator[None]:
    """Count each refused request by its HTTP status for `/metrics`."""
    try:
        yield
    except web.HTTPException as exc:
        metrics.REFUSED.labels(status=str(exc.status)).inc()
        raise
