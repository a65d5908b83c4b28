"""A bare aiohttp + wechatpy echo server: the baseline that the full stack is measured against.

It does only what every WeChat endpoint has to: check the signature, decrypt in safe mode,
parse the message and answer with a text reply (encrypted in safe mode). No database, no state,
no conversation, so the difference to the full stack is what the bot itself costs. It runs on
the event loop the bot's `serve` runs on (uvloop), so neither gains on the other from the loop.

    python bench/echo_server.py --port 8090 --token TOKEN --appid APPID [--aes-key KEY]
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature


def create_echo_app(token: str, appid: str, aes_key: str | None) -> web.Application:
    crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None

    async def receive(request: web.Request) -> web.Response:
        query = request.query
        try:
            check_signature(token, query["signature"], query["timestamp"], query["nonce"])
        except (KeyError, InvalidSignatureException):
            raise web.HTTPForbidden(text="bad signature") from None
        body = await request.read()
        safe_mode = query.get("encrypt_type") == "aes" and crypto is not None
        if safe_mode:
            assert crypto is not None
            body = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
        message = parse_message(body)
        reply = TextReply(content=f"收到：{getattr(message, 'content', '')}", message=message).render()
        if safe_mode:
            assert crypto is not None
            reply = crypto.encrypt_message(reply, query["nonce"], query["timestamp"])
        return web.Response(text=reply, content_type="application/xml")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/wechat", receive)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--appid", required=True)
    parser.add_argument("--aes-key", default=None)
    args = parser.parse_args()
    app = create_echo_app(args.token, args.appid, args.aes_key)
    web.run_app(
        app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
