"""The deployment files hold together: compose validates, nginx reaches every public route.

No Docker engine is needed: `docker-compose config` (Debian's docker-compose, installed by
scripts/test) validates docker-compose.yml against the Compose schema and resolves it with the
values of deploy/.env.example, and the assertions read the resolved file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import create_app
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("PASSWORD", "SECRET", "TOKEN", "KEY")


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    pytest.fail("docker-compose not found: install Debian's docker-compose (scripts/test does)")


def env_example() -> dict[str, str]:
    lines = (ROOT / "deploy" / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`config` of a copy of the deployment files, with `env` as its .env and nothing inherited."""
    for name in ("docker-compose.yml", "Dockerfile", "deploy"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if k not in env_example() and not k.startswith("COMPOSE_")}
    return subprocess.run(
        [*compose_command(), "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"),
         "config"],
        capture_output=True, text=True, env=clean, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose resolves it with .env.example (once: it takes a second)."""
    result = compose_config(tmp_path_factory.mktemp("compose"), env_example())
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_runs_postgres_redis_migrations_web_replicas_scheduler_and_nginx(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "scheduler", "nginx"}
    assert services["migrate"]["command"] == ["python", "-m", "bot", "migrate"]
    assert services["web"]["command"] == ["python", "-m", "bot", "serve"]
    assert services["scheduler"]["command"] == ["python", "-m", "bot", "scheduler"]
    assert services["web"]["deploy"]["replicas"] == 3
    assert any("postgres-data" in str(volume) for volume in services["postgres"]["volumes"])
    for name in ("web", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_web_instances_listen_on_all_interfaces_and_report_health(resolved: dict[str, Any]) -> None:
    web = resolved["services"]["web"]
    assert web["environment"]["BOT_HOST"] == "0.0.0.0"
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert any(str(port["target"] if isinstance(port, dict) else port).endswith("80")
               for port in resolved["services"]["nginx"]["ports"])  # fmt: skip


def test_web_and_scheduler_share_the_media_folder(resolved: dict[str, Any]) -> None:
    """The scheduler fetches complaint photos; every web instance must be able to show them."""
    services = resolved["services"]
    mounts = {name: [str(v) for v in services[name]["volumes"]] for name in ("web", "scheduler")}
    for name, volumes in mounts.items():
        media_dir = services[name]["environment"]["BOT_MEDIA_DIR"]
        assert any(v.startswith("media:") and media_dir in v for v in volumes), (name, volumes)


def test_web_believes_the_client_address_nginx_forwards(resolved: dict[str, Any]) -> None:
    """Login throttling counts per client: behind nginx every request would share nginx's address."""
    settings = Settings.from_env({k: str(v) for k, v in resolved["services"]["web"]["environment"].items()})

    assert any(ipaddress.ip_address("172.18.0.5") in network for network in settings.trusted_proxies)


@pytest.mark.parametrize("service", ["migrate", "web", "scheduler"])
def test_bot_services_get_settings_the_bot_accepts(resolved: dict[str, Any], service: str) -> None:
    environment = {k: str(v) for k, v in resolved["services"][service]["environment"].items()}

    settings = Settings.from_env(environment)

    assert settings.database_url.startswith("postgres://") and "@postgres:5432/" in settings.database_url
    assert settings.redis_url == "redis://redis:6379/0"


def test_env_example_holds_placeholders_only() -> None:
    secrets = {k: v for k, v in env_example().items() if any(part in k for part in SECRET_NAMES)}

    assert {"POSTGRES_PASSWORD", "WECHAT_SECRET", "WECHAT_TOKEN", "BOT_SESSION_SECRET"} <= set(secrets)
    assert all(value == "" or value.startswith("change-me") for value in secrets.values()), secrets


def test_compose_refuses_to_run_without_a_database_password(tmp_path: Path) -> None:
    env = {k: v for k, v in env_example().items() if k != "POSTGRES_PASSWORD"}

    result = compose_config(tmp_path, env)

    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def nginx_locations() -> dict[str, str]:
    """Each `location` of deploy/nginx.conf with its block's text."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    return {
        m["path"]: m["body"]
        for m in re.finditer(r"location\s+(?:=\s*)?(?P<path>\S+)\s*\{(?P<body>[^}]*)\}", text)
    }


def test_nginx_balances_the_public_paths_over_the_web_replicas() -> None:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    locations = nginx_locations()

    assert re.search(r"upstream bot_web\s*\{[^}]*server web:8080", text)
    assert re.search(r"listen 80;", text) and re.search(r"client_max_body_size \d+[km];", text)
    for path in ("/admin", "/api/", "/static/"):
        assert "proxy_pass http://bot_web;" in locations[path], path
    # one customer's messages reach one replica, in the order WeChat sent them
    assert re.search(r"upstream bot_wechat\s*\{\s*hash \$arg_openid consistent;[^}]*server web:8080", text)
    assert "proxy_pass http://bot_wechat;" in locations["/wechat"]
    assert "proxy_pass" not in locations["/"]  # /metrics and anything unknown stay inside


def test_nginx_proxies_every_public_route_of_the_app() -> None:
    routes = {resource.canonical for resource in create_app(Settings()).router.resources()}
    proxied = [path for path, body in nginx_locations().items() if "proxy_pass" in body]

    unreachable = [r for r in routes - {"/metrics"} if not any(r.startswith(p.rstrip("/")) for p in proxied)]

    assert not unreachable, f"add a location to deploy/nginx.conf for {unreachable}"
