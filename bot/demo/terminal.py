"""`python -m bot simulate`: chat with the demo bot in a terminal, as a demo customer.

The demo stack runs in this process on a free port; every line typed is sent to `/wechat` as
WeChat would send it (`WeChatUser`), and what the bot pushes later (late replies, customer-
service and template messages) is printed as it reaches the fake WeChat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import aiohttp

from bot.demo import data
from bot.demo.menu import menu_entries
from bot.demo.page import PLACES
from bot.demo.pushed import fetch_pushed
from bot.demo.runner import DemoError, DemoStack, demo_stack, until_stopped
from bot.settings import Settings
from bot.wechat.simulator import Answer, WeChatUser

Write = Callable[[str], None]
POLL_SECONDS = 1.0
HELP = """Type a message and press Enter, or:
  /menu            list the menu      /menu KEY    click it (e.g. /menu BIND)
  /loc             list places        /loc N       send place N
  /loc LAT LNG [LABEL]                send a location
  /follow [SCENE]  follow (an advisor's QR scene)   /unfollow
  /help            this text          /quit        leave"""


async def run_terminal(settings: Settings, *, openid: str | None = None) -> None:
    logging.getLogger().setLevel(logging.WARNING)  # the conversation, not the logs, is the output here
    try:
        async with (
            demo_stack(settings, port=0) as stack,
            aiohttp.ClientSession() as session,
            aclosing(stdin_lines()) as lines,
        ):
            print(f"demo bot at {stack.url} (simulator page: {stack.simulator_url})")
            await _unless_stopped(_converse(stack, session, lines, openid))
    except DemoError as exc:
        sys.exit(f"error: {exc}")


async def _converse(
    stack: DemoStack, session: aiohttp.ClientSession, lines: AsyncIterator[str], openid: str | None
) -> None:
    chosen = openid or await pick_openid(lines, print)
    if chosen is None:
        return
    user = WeChatUser(base_url=stack.url, session=session, openid=chosen, token=stack.settings.wechat_token)
    await chat(stack, user, lines, print)


async def _unless_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until it ends or Ctrl-C / SIGTERM ends it, without a traceback either way."""
    tasks = {asyncio.create_task(work), asyncio.create_task(until_stopped())}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    print()
    for task in done:
        task.result()  # a failure in the conversation is still raised


async def stdin_lines(prompt: str = "> ") -> AsyncGenerator[str, None]:
    """Lines typed on standard input, read without blocking the event loop; ends at EOF.

    asyncio makes the terminal non-blocking to read it; that is undone at the end, or the
    shell (which shares the terminal) would get errors from the next program reading it.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            print(prompt, end="", flush=True)
            line = await reader.readline()
            if not line:
                return
            yield line.decode(errors="replace").rstrip("\r\n")
    finally:
        transport.close()
        os.set_blocking(sys.stdin.fileno(), True)


async def pick_openid(lines: AsyncIterator[str], write: Write) -> str | None:
    """Ask which demo customer to be; 0 is a new follower with a fresh openid."""
    write("Who are you? (bind with the phone and plate shown)")
    for number, seed in enumerate(data.CUSTOMERS, start=1):
        plates = "、".join(car.plate for car in seed.vehicles)
        write(f"  {number}. {seed.name}  {seed.phone}  {plates}")
    write("  0. a new follower (fresh openid)")
    async for line in lines:
        answer = line.strip()
        if answer == "0":
            return f"demo-new-{secrets.token_hex(6)}"
        if answer.isdigit() and 1 <= int(answer) <= len(data.CUSTOMERS):
            return data.CUSTOMERS[int(answer) - 1].openid
        write(f"Pick a number from 0 to {len(data.CUSTOMERS)}.")
    return None


async def chat(
    stack: DemoStack,
    user: WeChatUser,
    lines: AsyncIterator[str],
    write: Write,
    *,
    poll_every: float = POLL_SECONDS,
) -> None:
    """The conversation loop; pushed messages are printed as they arrive until it ends."""
    write(HELP)
    watcher = asyncio.create_task(print_pushed(stack, user, write, poll_every))
    try:
        async for line in lines:
            if line.strip() == "/quit":
                return
            await handle_line(user, line.strip(), write)
    finally:
        watcher.cancel()


async def handle_line(user: WeChatUser, line: str, write: Write) -> None:
    command, _, rest = line.partition(" ")
    args = rest.split()
    if not line:
        return
    if command == "/help":
        write(HELP)
    elif command == "/menu":
        await _menu(user, args, write)
    elif command == "/loc":
        await _location(user, args, write)
    elif command == "/follow":
        show_answer(await user.subscribe(args[0] if args else None), write)
    elif command == "/unfollow":
        show_answer(await user.unsubscribe(), write)
    elif command.startswith("/"):
        write(f"unknown command {command}; /help lists them")
    else:
        show_answer(await user.text(line), write)


async def _menu(user: WeChatUser, args: list[str], write: Write) -> None:
    entries = menu_entries()
    if not args:
        write("  ".join(f"{key} {label}" for key, label in entries))
        return
    wanted = args[0]
    key = next((k for k, label in entries if wanted.upper() == k or wanted == label), None)
    if key is None:
        write(f"no menu entry {wanted}; /menu lists them")
        return
    show_answer(await user.click(key), write)


async def _location(user: WeChatUser, args: list[str], write: Write) -> None:
    if not args:
        for number, place in enumerate(PLACES, start=1):
            write(f"  {number}. {place.name}  {place.label}")
        return
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= len(PLACES):
        place = PLACES[int(args[0]) - 1]
        show_answer(await user.location(place.latitude, place.longitude, place.label), write)
        return
    try:
        latitude, longitude = float(args[0]), float(args[1])
    except (IndexError, ValueError):
        write("usage: /loc N, or /loc LAT LNG [LABEL]")
        return
    show_answer(await user.location(latitude, longitude, " ".join(args[2:])), write)


def show_answer(answer: Answer, write: Write) -> None:
    """The bot's passive reply; `success` (nothing to say now) prints nothing."""
    if answer.status != 200:
        write(f"[HTTP {answer.status}] {answer.body.decode(errors='replace')}")
    elif answer.msg_type == "transfer_customer_service":
        write("[转接人工客服]")
    elif answer.text:
        write(f"bot: {answer.text}")


async def print_pushed(stack: DemoStack, user: WeChatUser, write: Write, every: float) -> None:
    since = 0
    while True:
        for message in await fetch_pushed(user.session, stack.fake.url, user.openid, since):
            since = max(since, message["index"] + 1)
            write(describe_pushed(message))
        await asyncio.sleep(every)


def describe_pushed(message: dict[str, Any]) -> str:
    payload = message["payload"]
    if message["kind"] == "text":
        return f"bot (pushed): {payload['text']['content']}"
    if message["kind"] == "template":
        values = {name: item.get("value", "") for name, item in payload.get("data", {}).items()}
        lines = [f"[模板消息 {payload.get('template_id', '')}] {values.pop('first', '')}".rstrip()]
        remark = values.pop("remark", "")
        lines += [f"  {name}: {value}" for name, value in values.items()]
        if remark:
            lines.append(f"  {remark}")
        return "\n".join(lines)
    return f"[{message['kind']} message]"
