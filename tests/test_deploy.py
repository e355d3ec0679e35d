"""The shipped deployment files are accepted by their tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent


def compose_command() -> list[str]:
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if IN_CI:
        pytest.fail("no docker compose on the CI machine (.ci/run installs Debian's docker-compose)")
    pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")


def test_docker_compose_config_accepts_the_stack():
    command = compose_command()
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, cwd=ROOT, env={"SOBRIA_PSEUDONYM_KEY": "check", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


def test_compose_stack_has_gateway_redis_postgres_and_collector():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"gateway", "redis", "postgres", "otel-collector"} <= set(services)
    environment = services["gateway"]["environment"]
    assert environment["SOBRIA_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["SOBRIA_REDIS_URL"].startswith("redis://")
