"""Private PostgreSQL and Redis servers that a test may stop, kill or restart.

The machine's shared servers are never stopped; a test that takes a server away
starts its own instance on a free port with these helpers. PostgreSQL refuses to run
as root, so it runs as the `postgres` system user when the tests run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.conftest import IN_CI, free_port


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(reason + " (CI=true)")
    pytest.skip(reason)


@dataclass
class OwnPostgres:
    """A throw-away PostgreSQL cluster; `stop` and `start` keep its data."""

    directory: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        subprocess.run(_as_postgres_user(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def start_own_postgres() -> OwnPostgres:
    binaries = _postgres_bin()
    if binaries is None:
        _unavailable("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    directory = Path(tempfile.mkdtemp(prefix="sobria-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    initdb = [str(binaries / "initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres_user(initdb), check=True, capture_output=True, timeout=120)
    server = OwnPostgres(directory, free_port(), binaries)
    server.start()
    return server


@dataclass
class OwnRedis:
    """A throw-away redis-server with no persistence."""

    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_own_redis() -> OwnRedis:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed")
    server = OwnRedis(free_port())
    server.start()
    return server
