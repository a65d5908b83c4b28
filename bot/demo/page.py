"""The browser chat simulator at `/simulator`: a phone-like WeChat chat with the demo bot.

The page plays WeChat's servers itself: it signs every request with the demo token (handed to
the page, which is why this is mounted by the demo only) and posts the XML to the real `/wechat`
endpoint. What the bot pushes later is read from the fake WeChat through `/simulator/pushed`,
a same-origin proxy, so the page needs no CORS and the fake stays on its own port.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
from aiohttp import web

from bot.demo import data
from bot.demo.menu import OFFICIAL_MENU
from bot.demo.pushed import fetch_pushed

HERE = Path(__file__).resolve().parent
MAX_OPENID_LENGTH = 64
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Place:
    """A preset spot for "send location", as WeChat's location message would describe it."""

    name: str
    label: str  # WeChat's Label: the address under the pin
    latitude: float
    longitude: float
    hint: str = ""  # shown in the picker only


PLACES = (
    Place("广深高速 福永段", "广东省深圳市宝安区广深高速福永立交附近", 22.6731, 113.8186),
    Place("深南大道 车公庙", "广东省深圳市福田区深南大道车公庙地铁站", 22.5383, 114.0206, "福田店附近"),
    Place("南山 科技园", "广东省深圳市南山区科技园科苑路", 22.5405, 113.9531, "南山店附近"),
    Place("东莞 松山湖", "广东省东莞市松山湖大道", 22.9185, 113.8843, "离门店较远"),
)


@dataclass(frozen=True)
class Simulator:
    fake_url: str  # the fake WeChat the bot sends to
    token: str  # the demo WECHAT_TOKEN the page signs with
    timezone: str  # times on the page are shown in the dealer's zone, not the browser's


SIMULATOR = web.AppKey("simulator", Simulator)
FAKE_SESSION = web.AppKey("simulator_fake_session", aiohttp.ClientSession)


def setup_simulator(app: web.Application, simulator: Simulator) -> None:
    """Mount the simulator page, its pushed-messages proxy and its static files on the demo app."""
    app[SIMULATOR] = simulator
    app.cleanup_ctx.append(_fake_session)
    app.router.add_get("/", _to_simulator)  # the address the demo prints, opened bare
    app.router.add_get("/simulator", simulator_page)
    app.router.add_get("/simulator/pushed", pushed_messages)
    app.router.add_static("/simulator/static", HERE / "static")


async def _to_simulator(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/simulator")


async def _fake_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        app[FAKE_SESSION] = session
        yield


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def page_config(simulator: Simulator) -> dict[str, Any]:
    """Everything the page script needs, embedded in the page as JSON."""
    staff = {seed.username: seed for seed in data.STAFF}
    stores = {seed.code: seed for seed in data.STORES}
    return {
        "token": simulator.token,
        "timezone": simulator.timezone,
        "account": "gh_demo_account",
        "endpoint": "/wechat",
        "pushed": "/simulator/pushed",
        "menu": OFFICIAL_MENU["button"],
        "customers": [
            {
                "openid": seed.openid,
                "name": seed.name,
                "phone": seed.phone,
                "plates": [car.plate for car in seed.vehicles],
                "store": stores[seed.store_code].name,
                "advisor": staff[seed.advisor_username].name if seed.advisor_username else None,
            }
            for seed in data.CUSTOMERS
        ],
        "advisors": [
            {"name": seed.name, "store": stores[seed.store_code].name, "scene": seed.qr_scene}
            for seed in data.STAFF
            if seed.qr_scene is not None and seed.store_code is not None
        ],
        "places": [
            {
                "name": p.name,
                "label": p.label,
                "latitude": p.latitude,
                "longitude": p.longitude,
                "hint": p.hint,
            }
            for p in PLACES
        ],
    }


async def simulator_page(request: web.Request) -> web.Response:
    config = page_config(request.app[SIMULATOR])
    html = _templates().get_template("simulator.html.j2").render(config=config)
    response = web.Response(text=html, content_type="text/html")
    response.headers.update(
        {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
    )
    return response


async def pushed_messages(request: web.Request) -> web.Response:
    """`?openid=&since=N`: what the fake WeChat was sent for this openid from index N on."""
    openid = request.query.get("openid", "")
    if not 0 < len(openid) <= MAX_OPENID_LENGTH:
        raise web.HTTPBadRequest(text="openid is required")
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="since must be a message index") from None
    if since < 0:
        raise web.HTTPBadRequest(text="since must be a message index")
    messages = await fetch_pushed(request.app[FAKE_SESSION], request.app[SIMULATOR].fake_url, openid, since)
    return web.json_response(messages, headers={"Cache-Control": "no-store"})
