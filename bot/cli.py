"""`python -m bot COMMAND`: the command line of SPEC §9."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import sys
from collections.abc import Sequence
from datetime import datetime

from bot import logs
from bot.services.importing.command import add_import_command
from bot.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(str(exc))
    args.run(settings, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="售后服务号: WeChat after-sales bot")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web process (WeChat endpoint, admin, API)")
    serve.set_defaults(run=_serve)

    scheduler = commands.add_parser("scheduler", help="run the scheduler process (all jobs on their timers)")
    scheduler.set_defaults(run=_scheduler)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_migrate)

    demo = commands.add_parser("demo", help="everything embedded: demo data, fake WeChat, chat simulator")
    demo.add_argument("--port", type=int, default=None, help="web port (default BOT_PORT)")
    demo.add_argument("--fresh", action="store_true", help="start from an empty demo database")
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser("simulate", help="chat with the demo bot in this terminal")
    simulate.add_argument("--openid", default=None, help="the demo customer to be (default: the first)")
    simulate.set_defaults(run=_simulate)

    fake = commands.add_parser("fake-wechat", help="run the fake WeChat API")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8081)
    fake.set_defaults(run=_fake_wechat)

    staff = commands.add_parser("staff", help="manage staff accounts")
    staff_commands = staff.add_subparsers(required=True, metavar="ACTION")
    add = staff_commands.add_parser("add", help="create a staff account (the first admin, for one)")
    add.add_argument("--name", required=True)
    add.add_argument("--phone", required=True)
    add.add_argument(
        "--role",
        required=True,
        help="advisor, rescue_dispatcher, insurance_specialist, "
        "service_manager, aftersales_manager, gm, admin",
    )
    add.add_argument("--username", default=None)
    add.add_argument("--store", default=None, help="store code (not for gm/admin)")
    add.add_argument("--password", default=None, help="prompted for when omitted")
    add.set_defaults(run=_staff_add)

    jobs = commands.add_parser("jobs", help="run scheduled jobs by hand")
    job_commands = jobs.add_subparsers(required=True, metavar="ACTION")
    run = job_commands.add_parser("run", help="run one job once")
    run.add_argument("name")
    run.add_argument("--at", type=_aware_datetime, default=None, help="pretend it is this time (ISO 8601)")
    run.set_defaults(run=_jobs_run)

    add_import_command(commands)
    return parser


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-25T09:00+08:00")
    return parsed


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvloop
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings)
    app.on_startup.append(_tune_garbage_collector)
    # uvloop's event loop (libuv, in C) runs a message's many small steps (its requests to
    # Redis and PostgreSQL, the batches they go in) for about a tenth less CPU than asyncio's.
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, loop=uvloop.new_event_loop())


async def _tune_garbage_collector(_app: object) -> None:
    """Keep the collector's full passes off what lives as long as the process.

    Everything alive once the app has started (modules, models, templates, connections) is
    frozen out of collection, and young objects are collected less often: under load, full
    passes over those objects paused every request in flight and were most of the p99.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _scheduler(settings: Settings, args: argparse.Namespace) -> None:
    from bot.scheduler.runner import run_scheduler

    asyncio.run(run_scheduler(settings))


def _migrate(settings: Settings, args: argparse.Namespace) -> None:
    from bot.db import migrate

    applied = asyncio.run(migrate(settings.database_url))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from bot.demo.runner import run_demo

    asyncio.run(run_demo(settings, port=args.port, fresh=args.fresh))


def _simulate(settings: Settings, args: argparse.Namespace) -> None:
    from bot.demo.terminal import run_terminal

    asyncio.run(run_terminal(settings, openid=args.openid))


def _fake_wechat(settings: Settings, args: argparse.Namespace) -> None:
    from bot.wechat.fake import run_fake_wechat

    asyncio.run(run_fake_wechat(args.host, args.port))


def _staff_add(settings: Settings, args: argparse.Namespace) -> None:
    from bot.services.staff_accounts import StaffAccountError, create_staff

    password = args.password or getpass.getpass("Password: ")
    try:
        staff = asyncio.run(
            create_staff(
                settings.database_url,
                name=args.name,
                phone=args.phone,
                role=args.role,
                username=args.username,
                store_code=args.store,
                password=password,
            )
        )
    except StaffAccountError as exc:
        sys.exit(f"error: {exc}")
    print(f"created staff #{staff.id} {staff.name} ({staff.role})")


def _jobs_run(settings: Settings, args: argparse.Namespace) -> None:
    from bot.scheduler.runner import run_job_once

    try:
        print(asyncio.run(run_job_once(settings, args.name, at=args.at)))
    except KeyError as exc:
        sys.exit(f"error: {exc.args[0]}")
