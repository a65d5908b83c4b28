"""Benchmark: WeChat text messages per second through the full stack, next to a bare echo.

Starts, each in its own process on 127.0.0.1: the fake WeChat API (`python -m bot fake-wechat`),
the bot (`python -m bot serve` on a freshly migrated database) and a bare aiohttp + wechatpy echo
(bench/echo_server.py). This process only generates load: signed (in safe mode encrypted)
requests as WeChat's servers send them, built by `bot.wechat.simulator.WeChatUser` before the
clock starts, sent with a fixed concurrency. Every target gets the same load in the same run;
echo and full stack take turns for `--rounds` rounds, so a machine that speeds up or slows down
meanwhile (a shared host does) skews both alike.

    .venv/bin/python -m bench.wechat_throughput [--messages 10000] [--concurrency 64]
        [--rounds 3] [--backend sqlite|postgres] [--time-limit 120] [--profile]

Prints a table (msg/s, p50, p99, errors per target, mode and round) and a one-line summary
against the target of issue 2: the full stack at least 50% of the echo's msg/s (the median of
the rounds' ratios), with p99 under 100 ms (the median of the rounds' p99).
Results (and, with --profile, py-spy samples of the bot) are written to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import linecache
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from urllib.parse import urlencode, urlparse

import aiohttp
import asyncpg
import psutil
from redis.asyncio import Redis

from bot.wechat.simulator import WeChatUser

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
TOKEN = "bench-token"
APPID = "wxbench0000000001"
SECRET = "bench-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXTS = ("你好", "预约", "进度", "绑定", "13812345678", "粤B12345", "取消", "帮助")
MODES = ("plain", "aes")
TARGETS = ("echo", "full stack")
TARGET_RATIO, TARGET_P99_MS = 0.5, 100.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ANSWER_TIMEOUT_SECONDS = 30


@dataclass
class Phase:
    """One target under one mode's load."""

    target: str
    mode: str
    round: int  # echo and full stack alternate, round after round, so drift hits both alike
    sent: int
    errors: int
    no_reply: int  # `success` instead of a text reply (a handler over its budget)
    server_errors: int  # ERROR lines the target logged meanwhile (the bot only)
    seconds: float
    server_cpu_seconds: float  # the target process, all its threads
    load: float  # the machine's 1-minute load average after the run: other work skews the figures
    latencies_ms: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float:
        return 1000 * self.server_cpu_seconds / self.sent if self.sent else float("nan")

    @property
    def cpu_busy(self) -> float:
        """The target's CPU time as a share of one core over the run."""
        return self.server_cpu_seconds / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True)
class Request:
    user: WeChatUser
    params: dict[str, str]
    wire: bytes  # the whole HTTP/1.1 request, as sent


Result = tuple[int, bytes, float]  # status (0: no answer), body, seconds


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def quiet_collector() -> None:
    """Keep this process's own garbage collection out of the timings: what exists now (the
    requests, earlier results) is frozen out of the collector's passes."""
    gc.collect()
    gc.freeze()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_only(url: str) -> str:
    if urlparse(url).hostname not in LOOPBACK:
        raise argparse.ArgumentTypeError(f"only 127.0.0.1 is benchmarked, not {url!r}")
    return url


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any bot setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WECHAT_"))}
    return env | settings


@asynccontextmanager
async def server(
    name: str, argv: Sequence[str], env: dict[str, str], health: str, logs: Path
) -> AsyncIterator[int]:
    """Run a server process until the block ends; yields its pid once `health` answers 200."""
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        try:
            await wait_healthy(process, health, log_path)
            yield process.pid
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def wait_healthy(process: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in 60 s:\n{log_path.read_text()[-3000:]}")


@asynccontextmanager
async def database(args: argparse.Namespace, workdir: Path) -> AsyncIterator[dict[str, str]]:
    """The bot's database (and Redis) settings: an SQLite file, or a scratch PostgreSQL database."""
    if args.backend == "sqlite":
        yield {"BOT_DATABASE_URL": f"sqlite://{workdir}/bench.sqlite3"}
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(args.postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis = Redis.from_url(args.redis_url)
    await redis.flushdb()  # a database number of the benchmark's own (--redis-url)
    await redis.aclose()
    try:
        yield {
            "BOT_DATABASE_URL": args.postgres_url.rsplit("/", 1)[0] + f"/{name}",
            "BOT_REDIS_URL": args.redis_url,
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def migrate(env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"python -m bot migrate failed:\n{output.decode()[-3000:]}")


def build_requests(
    base_url: str, mode: str, count: int, openids: int, prefix: str, first_msg_id: int, rng: random.Random
) -> list[Request]:
    """Signed requests from `openids` distinct users, built before timing starts."""
    requests = []
    for i in range(count):
        user = WeChatUser(
            base_url=base_url, session=cast(aiohttp.ClientSession, None),  # only signs, never sends
            openid=f"{prefix}-{i % openids:05d}", token=TOKEN,
            aes_key=AES_KEY if mode == "aes" else None, appid=APPID,
        )  # fmt: skip
        xml = user.xml("text", {"Content": rng.choice(TEXTS)}, msg_id=first_msg_id + i)
        params, body = user.signed_request(xml)
        requests.append(Request(user, params, http_post(base_url, f"/wechat?{urlencode(params)}", body)))
    return requests


def http_post(base_url: str, target: str, body: bytes) -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {urlparse(base_url).netloc}\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def send_all(
    base_url: str, requests: list[Request], args: argparse.Namespace
) -> tuple[list[Result | None], float]:
    """Send with `--concurrency` workers until all are sent or `--time-limit` passes.

    Each worker keeps one HTTP/1.1 connection open and writes requests prepared byte for byte,
    reading each answer by its Content-Length (both servers send one). aiohttp's client spent
    about as much CPU per request as the echo server did answering it; on a two-core machine
    that CPU came out of the servers', the bot's most of all, as it shares the cores with
    PostgreSQL and Redis too. WeChat's servers are not on the bot's machine; the lighter the
    stand-in, the more the figures are the servers' own.
    """
    results: list[Result | None] = [None] * len(requests)
    pending = iter(range(len(requests)))
    deadline = time.perf_counter() + args.time_limit
    address = urlparse(base_url)

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for index in pending:
            if time.perf_counter() > deadline:
                break
            started = time.perf_counter()
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
                    connection = connection or await asyncio.open_connection(address.hostname, address.port)
                    status, body = await exchange(*connection, requests[index].wire)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                status, body = 0, repr(exc).encode()
                if connection is not None:
                    connection[1].close()
                connection = None
            results[index] = (status, body, time.perf_counter() - started)
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return results, time.perf_counter() - started


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: bytes
) -> tuple[int, bytes]:
    """One request on a kept-alive connection: its status and body."""
    writer.write(wire)
    status_line, *headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    lengths = [
        value for name, _, value in (h.partition(":") for h in headers) if name.lower() == "content-length"
    ]
    if not lengths:
        raise ValueError(f"answer without Content-Length: {status_line}")
    return int(status_line.split()[1]), await reader.readexactly(int(lengths[0]))


def judge(requests: list[Request], results: list[Result | None]) -> Counter[str]:
    """Each sent request's outcome: a valid text reply, `success` only, or an error."""
    outcomes: Counter[str] = Counter()
    for request, result in zip(requests, results, strict=True):
        if result is None:
            continue
        status, raw, _ = result
        try:
            answer = request.user.read_answer(status, raw, request.params)
        except Exception:
            outcomes["error"] += 1
            continue
        if status != 200:
            outcomes["error"] += 1
        elif answer.msg_type == "text" and answer.text:
            outcomes["text"] += 1
        else:
            outcomes["no_reply"] += 1
    return outcomes


def error_lines(log_path: Path, offset: int) -> tuple[int, int]:
    """ERROR lines logged after `offset`, and the new offset."""
    data = log_path.read_bytes()
    return data[offset:].count(b'"level": "ERROR"'), len(data)


@asynccontextmanager
async def profiled(pid: int | None, output: Path) -> AsyncIterator[None]:
    """py-spy samples of `pid` while the block runs, as collapsed stacks in `output`."""
    if pid is None:
        yield
        return
    py_spy = Path(sys.executable).parent / "py-spy"  # installed by requirements-dev.txt
    spy = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
        "--output", str(output), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        if spy.returncode is None:
            spy.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(spy.communicate(), 30)
        if not output.exists():
            print(f"py-spy wrote no profile: {errors.decode()[-1000:]}", file=sys.stderr)


def profile_summary(path: Path, top: int = 15) -> list[str]:
    """Where the bot's busy samples go: each is charged to the innermost function of the project
    (bot/, admin/) on its stack, together with the library code that function called. Samples
    of a thread waiting (the event loop in select, SQLite's thread for its next statement) are
    counted apart, so the shares are of the CPU the bot used."""
    charged: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        charged[_owner(frames)] += int(count)
    waiting = sum(n for owner, n in charged.items() if owner.startswith(WAITING))
    busy = sum(charged.values()) - waiting or 1
    shares = [
        f"{100 * n / busy:5.1f}%  {owner}"
        for owner, n in charged.most_common()
        if not owner.startswith(WAITING)
    ]
    total = busy + waiting
    return [
        *shares[:top],
        f"(and {waiting} samples waiting, {100 * waiting / total:.0f}% of {total}, not counted)",
    ]


WAITING = "(waiting"


def _source_line(frame: str) -> str:
    """The source line a py-spy frame such as `f (aiosqlite/core.py:59)` points at."""
    location = frame.rpartition("(")[2].rstrip(")")
    relative, _, number = location.rpartition(":")
    for folder in sys.path:
        candidate = Path(folder, relative)
        if candidate.is_file() and number.isdigit():
            return linecache.getline(str(candidate), int(number))
    return ""


def _owner(frames: list[str]) -> str:
    for frame in reversed(frames):
        if ("(bot/" in frame or "(admin/" in frame) and "bot/cli.py" not in frame and "__main__" not in frame:
            return frame.rsplit(":", 1)[0] + ")"  # the function, not the line
    if "selectors.py" in frames[-1]:
        return f"{WAITING}: event loop in select)"
    if any("aiosqlite" in frame for frame in frames):
        if ".get()" in _source_line(frames[-1]):
            return f"{WAITING}: SQLite's thread for its next statement)"
        return "(aiosqlite's thread: SQLite itself)"
    return "(aiohttp and asyncio, outside the project's code)"


@dataclass(frozen=True)
class Targets:
    """The running servers: URLs and pids by target name, and the bot's log."""

    urls: dict[str, str]
    pids: dict[str, int]
    bot_log: Path


def bot_environment(database: dict[str, str], port: int, fake_url: str) -> dict[str, str]:
    """The bot's settings for a run: `database` is what `database()` yielded."""
    return clean_environment(
        **database,
        BOT_HOST="127.0.0.1",
        BOT_PORT=str(port),
        WECHAT_TOKEN=TOKEN,
        WECHAT_APPID=APPID,
        WECHAT_SECRET=SECRET,
        WECHAT_AES_KEY=AES_KEY,
        WECHAT_API_BASE=fake_url,
    )


def echo_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.echo_server", "--port", str(port), "--token", TOKEN,
            "--appid", APPID, "--aes-key", AES_KEY]  # fmt: skip


async def start_servers(stack: AsyncExitStack, args: argparse.Namespace, workdir: Path) -> Targets:
    """Fake WeChat, the bot on a migrated database, and the echo, each in its own process."""
    ports = {name: free_port() for name in ("fake", "full stack", "echo")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    python = sys.executable
    database_env = await stack.enter_async_context(database(args, workdir))
    bot_env = bot_environment(database_env, ports["full stack"], urls["fake"])
    await migrate(bot_env)
    fake = [python, "-m", "bot", "fake-wechat", "--port", str(ports["fake"])]
    await stack.enter_async_context(
        server("fake-wechat", fake, clean_environment(), f"{urls['fake']}/_fake/stats", workdir)
    )
    bot = [python, "-m", "bot", "serve"]
    pids = {}
    pids["full stack"] = await stack.enter_async_context(
        server("bot", bot, bot_env, f"{urls['full stack']}/healthz", workdir)
    )
    pids["echo"] = await stack.enter_async_context(
        server("echo", echo_command(ports["echo"]), clean_environment(), f"{urls['echo']}/healthz", workdir)
    )
    return Targets(urls, pids, workdir / "bot.log")


async def run(args: argparse.Namespace) -> list[Phase]:
    """Each mode, each target: an untimed warm-up, then the measured run."""
    rng = random.Random(args.seed)
    msg_ids = itertools.count(int(time.time()) * 1_000_000)

    def batch(url: str, mode: str, count: int, openids: int, prefix: str) -> list[Request]:
        requests = build_requests(url, mode, count, openids, prefix, next(msg_ids), rng)
        for _ in range(count):  # every MsgId is used once
            next(msg_ids)
        return requests

    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        async with AsyncExitStack() as stack:
            targets = await start_servers(stack, args, Path(tmp))
            offset = 0
            for mode, round_, target in itertools.product(MODES, range(1, args.rounds + 1), TARGETS):
                url = targets.urls[target]
                await send_all(url, batch(url, mode, args.warmup, args.warmup, "o-warm"), args)
                # senders new to the bot in every run: each message also creates its follower
                prefix = f"o-{mode}-{round_}"
                requests = batch(url, mode, args.messages, args.openids, prefix)
                is_bot = target == "full stack"
                _, offset = error_lines(targets.bot_log, offset)
                profile = RESULTS / f"profile-{args.backend}-{mode}.txt"
                process = psutil.Process(targets.pids[target])
                quiet_collector()
                cpu_before = cpu_seconds(process)
                async with profiled(process.pid if args.profile and is_bot else None, profile):
                    results, seconds = await send_all(url, requests, args)
                cpu = cpu_seconds(process) - cpu_before
                logged, offset = error_lines(targets.bot_log, offset)
                outcomes = judge(requests, results)
                latencies = [1000 * r[2] for r in results if r is not None]
                phases.append(
                    Phase(
                        target=target,
                        mode=mode,
                        round=round_,
                        sent=len(latencies),
                        errors=outcomes["error"],
                        no_reply=outcomes["no_reply"],
                        server_errors=logged if is_bot else 0,
                        seconds=seconds,
                        server_cpu_seconds=cpu,
                        load=os.getloadavg()[0],
                        latencies_ms=latencies,
                    )
                )
            if sum(p.server_errors for p in phases):
                print(
                    f"the bot logged errors; its log ends:\n{targets.bot_log.read_text()[-2000:]}",
                    file=sys.stderr,
                )
    return phases


COLUMNS: tuple[tuple[str, int], ...] = (
    ("target", 11), ("mode", 6), ("round", 5), ("sent", 6), ("errors", 6), ("no reply", 8), ("msg/s", 8),
    ("p50 ms", 7), ("p99 ms", 7), ("cpu ms/msg", 10), ("cpu busy", 8), ("load", 5),
)  # fmt: skip


def table(phases: list[Phase], args: argparse.Namespace) -> str:
    head = " ".join(
        f"{name:<{width}}" if i < 2 else f"{name:>{width}}" for i, (name, width) in enumerate(COLUMNS)
    )
    lines = [
        f"WeChat text messages: {args.messages} per run from {args.openids} openids, "
        f"concurrency {args.concurrency}, backend {args.backend}",
        head,
        "-" * len(head),
    ]
    for p in phases:
        values: tuple[object, ...] = (
            p.target,
            p.mode,
            p.round,
            p.sent,
            p.errors + p.server_errors,
            p.no_reply,
            f"{p.rate:.0f}",
        )
        values += (f"{p.percentile(0.5):.1f}", f"{p.percentile(0.99):.1f}")
        values += (f"{p.cpu_ms_per_message:.2f}", f"{p.cpu_busy:.0%}", f"{p.load:.1f}")
        lines.append(
            " ".join(
                f"{v:<{w}}" if i < 2 else f"{v:>{w}}"
                for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


def summary(phases: list[Phase]) -> str:
    """Per mode, the median over rounds of the full stack's rate as a share of the echo's in the
    same round, and the median p99."""
    parts, met = [], True
    for mode in MODES:
        rounds = sorted({p.round for p in phases if p.mode == mode})
        ratios, p99s, rates = [], [], []
        for round_ in rounds:
            echo, full = (
                next(p for p in phases if (p.mode, p.round, p.target) == (mode, round_, target))
                for target in TARGETS
            )
            ratios.append(full.rate / echo.rate)
            p99s.append(full.percentile(0.99))
            rates.append(full.rate)
        ratio, p99, rate = (statistics.median(values) for values in (ratios, p99s, rates))
        full_runs = [p for p in phases if p.mode == mode and p.target == "full stack"]
        errors = sum(p.errors + p.server_errors for p in full_runs)
        met &= ratio >= TARGET_RATIO and p99 < TARGET_P99_MS and errors == 0
        parts.append(f"{mode} {rate:.0f} msg/s = {ratio:.0%} of echo, p99 {p99:.0f} ms")
    verdict = "MET" if met else "MISSED"
    return (
        f"full stack (medians of {len(rounds)} rounds): {'; '.join(parts)} -- "
        f"target (>= 50% of echo, p99 < 100 ms, no errors): {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000, help="messages per target and mode")
    parser.add_argument("--openids", type=int, default=10_000, help="distinct senders")
    parser.add_argument("--rounds", type=int, default=3, help="echo and full stack runs per mode, alternated")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", type=loopback_only, default=DEFAULT_POSTGRES_URL,
                        help="admin URL; a scratch database is created and dropped")  # fmt: skip
    parser.add_argument("--redis-url", type=loopback_only, default=DEFAULT_REDIS_URL,
                        help="a database number of the benchmark's own: it is flushed")  # fmt: skip
    parser.add_argument("--time-limit", type=float, default=120, help="seconds per run at most (<= 240)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed messages before each run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="sample the bot with py-spy (bench/results/)")
    args = parser.parse_args(argv)
    if not 0 < args.time_limit <= 240:  # signed requests go stale after the bot's 300 s clock-skew limit
        parser.error("--time-limit must be in (0, 240]")

    RESULTS.mkdir(exist_ok=True)
    phases = asyncio.run(run(args))
    print(table(phases, args))
    print(summary(phases))
    print(f"saved {save(phases, args).relative_to(ROOT)}")
    for mode in MODES if args.profile else ():
        path = RESULTS / f"profile-{args.backend}-{mode}.txt"
        if path.exists() and path.stat().st_size:
            print(f"\nthe bot, {mode}: share of py-spy samples by function, from {path.relative_to(ROOT)}")
            print("\n".join(profile_summary(path)))


def save(phases: list[Phase], args: argparse.Namespace) -> Path:
    """The figures as JSON in bench/results/ (git-ignored), for comparing runs."""
    record = {
        "args": vars(args),
        "summary": summary(phases),
        "phases": [
            {k: v for k, v in asdict(p).items() if k != "latencies_ms"}
            | {"msg_per_s": p.rate, "p50_ms": p.percentile(0.5), "p99_ms": p.percentile(0.99)}
            | {"cpu_ms_per_message": p.cpu_ms_per_message, "cpu_busy": p.cpu_busy}
            for p in phases
        ],
    }
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{args.backend}.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2))
    return path


if __name__ == "__main__":
    main()
