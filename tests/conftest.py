"""Shared fixtures: the real PostgreSQL and Redis servers of the machine.

Outside CI a test that needs a server skips with the reason when the server is not
reachable; under CI=true it fails instead, so CI never passes on skipped tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_DSN = os.environ.get("SOBRIA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SOBRIA_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (outside CI) or fail (under CI) when a named server is unreachable."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: servers must be up)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url() -> str:
    """URL of the shared Redis; each test should use its own key prefix."""
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    return f"sobria-test:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped at the end.

    Yields an async SQLAlchemy URL (postgresql+asyncpg://...)."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import asyncio

    import asyncpg

    name = f"sobria_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_database")


async def stop_budget_watchers() -> None:
    """Stop the hold watchers of the budget stores this test made: one still running would
    write its `alive` key again after the test's keys are deleted."""
    watchers = [task for task in asyncio.all_tasks() if task.get_name() == "sobria-budget-epochs"]
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)


@pytest.fixture
async def redis_client(redis_url: str, key_prefix: str) -> AsyncIterator[object]:
    """An async Redis client; deletes every key under this test's prefix afterwards."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await stop_budget_watchers()
        keys = [k async for k in client.scan_iter(match=key_prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
