"""Benchmark: CPU instructions per WeChat message, the full stack next to the bare echo.

msg/s on a shared machine drifts by 20-30% within minutes, more than most changes to the bot
are worth. Instructions do not: each server runs under valgrind's callgrind, counting only
while the measured messages are answered, so the same code and load give the same count to a
few percent whatever else the machine does. The ratio echo / full stack is the share of the
echo's speed the full stack would reach with a core each (the msg/s benchmark,
`wechat_throughput.py`, is the one that tells about latency and waiting).

    .venv/bin/python -m bench.instructions [--backend sqlite|postgres] [--messages 1000]

Needs valgrind (Debian's `valgrind`). The same servers, database set-up and requests as
`wechat_throughput.py`; callgrind slows a server about fifty times, so a run takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from bench import wechat_throughput as bench

MODES = ("plain", "aes")
TARGET_SHARE = 0.5


async def count(args: argparse.Namespace, target: str, mode: str, workdir: Path) -> tuple[float, int]:
    """Instructions per message and failed requests for one target and mode."""
    async with AsyncExitStack() as stack:
        port, fake_port = bench.free_port(), bench.free_port()
        fake_url, url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{port}"
        env = bench.bot_environment(
            await stack.enter_async_context(bench.database(args, workdir)), port, fake_url
        )
        fake = [sys.executable, "-m", "bot", "fake-wechat", "--port", str(fake_port)]
        await stack.enter_async_context(
            bench.server("fake-wechat", fake, bench.clean_environment(), f"{fake_url}/_fake/stats", workdir)
        )
        if target == "echo":
            argv = bench.echo_command(port)
        else:
            await bench.migrate(env)
            argv = [sys.executable, "-m", "bot", "serve"]
        output = workdir / f"callgrind-{target.replace(' ', '-')}-{mode}.out"
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}"]
        health = f"{url}/healthz"
        pid = await stack.enter_async_context(bench.server(target, valgrind + argv, env, health, workdir))
        rng = random.Random(args.seed)
        warmup = bench.build_requests(url, mode, args.warmup, args.openids, "warm", 1, rng)
        measured = bench.build_requests(url, mode, args.messages, args.openids, "meas", 10**9, rng)
        await bench.send_all(url, warmup, args)
        callgrind_control("-i", "on", pid)
        results, _ = await bench.send_all(url, measured, args)
        callgrind_control("-i", "off", pid)
        callgrind_control("-d", pid)
        failed = sum(1 for result in results if result is None or result[0] != 200)
        return total_instructions(output) / args.messages, failed


def callgrind_control(*arguments: str | int) -> None:
    subprocess.run(["callgrind_control", *map(str, arguments)], check=True, capture_output=True)


def total_instructions(output: Path) -> int:
    """The largest total among the profile dumps (the one made while instrumentation was on)."""
    totals = [
        int(line.split()[1])
        for dump in output.parent.glob(output.name + "*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    return max(totals, default=0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000, help="measured messages per target and mode")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--openids", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", type=bench.loopback_only, default=bench.DEFAULT_POSTGRES_URL)
    parser.add_argument("--redis-url", type=bench.loopback_only, default=bench.DEFAULT_REDIS_URL)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.time_limit = 600  # send_all's bound; callgrind is slow
    return args


async def run(args: argparse.Namespace) -> dict[tuple[str, str], tuple[float, int]]:
    counts = {}
    for mode in MODES:
        for target in ("echo", "full stack"):
            with tempfile.TemporaryDirectory(prefix="bench-instructions-") as workdir:
                counts[target, mode] = await count(args, target, mode, Path(workdir))
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    args = parse_args(argv)
    counts = asyncio.run(run(args))
    print(f"Instructions per WeChat text message: {args.messages} measured per run, backend {args.backend}")
    print(f"{'target':<11} {'mode':<6} {'failed':>6} {'k instr/msg':>12} {'share of echo':>14}")
    shares = {}
    for (target, mode), (instructions, failed) in counts.items():
        share = shares[target, mode] = counts["echo", mode][0] / instructions
        print(f"{target:<11} {mode:<6} {failed:>6} {instructions / 1000:>12,.0f} {share:>14.0%}")
    failed = sum(failed for _, failed in counts.values())
    verdict = all(shares["full stack", mode] >= TARGET_SHARE for mode in MODES) and not failed
    per_mode = "; ".join(f"{mode} {shares['full stack', mode]:.0%} of echo" for mode in MODES)
    print(f"full stack by instructions: {per_mode} -- target (>= 50%): {'MET' if verdict else 'MISSED'}")


if __name__ == "__main__":
    main()
