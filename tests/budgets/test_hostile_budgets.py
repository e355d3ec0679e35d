"""Budgets and the ledger against hostile request shapes and a hostile provider, end to end.

Real processes: three gateway replicas (`sobria serve`) sharing their own redis-server and
one PostgreSQL database, in front of `hostile_upstream.py`. Each test is one row of issue
13's table: it reproduces what was sent or done, and asserts that the ledger's sum for the
employee is within the limit, that no more requests were answered than the budget pays
for, and that every 200 has exactly one ledger row. Each test uses its own employee (and
department), so tests share the replicas without sharing a budget.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_ADMIN_DSN, free_port, require_server
from tests.processes import (
    Gateway,
    mock_model,
    policy_for,
    start_gateway,
    stop,
    wait_until_up,
)
from tests.reliability.servers import start_own_redis

LIMIT_MICRO_EUR = 10_000  # 0.01 EUR per employee
HOSTILE = Path(__file__).with_name("hostile_upstream.py")
FIGURES: list[str] = []

MODELS = (  # name (the upstream behaviour), tier, EUR per million input tokens, per million output tokens
    ("honest-a", "small", "1", "10"),
    ("honest-dear", "small", "1", "100"),
    ("honest-medium", "medium", "1", "10"),
    ("honest-tools", "small", "0.01", "10"),
    ("nousage-a", "small", "1", "100"),
    ("toolsonly-a", "small", "1", "100"),
    ("negative-a", "small", "1", "100"),
    ("absurd-a", "small", "1", "100"),
    ("broken-primary", "small", "1", "10"),
    ("broken-large", "large", "1", "10"),
    ("honest-pricey", "large", "10", "100"),
    ("slow-a", "small", "1", "100"),
    ("late-a", "small", "1", "100"),
)


def catalogue(upstream_url: str) -> str:
    entries = "".join(
        mock_model(name, tier, upstream_url, price_in, price_out, max_output_tokens=64)
        for name, tier, price_in, price_out in MODELS
    )
    return f"version: hostile\nmodels:{entries}\nfallbacks:\n  broken-primary: [honest-pricey]\n  broken-large: [honest-pricey]\n"


POLICY_FALLBACKS = {"small": ["honest-tools"], "medium": ["honest-medium"], "large": ["honest-pricey"]}


@dataclass
class Cluster:
    replicas: list[Gateway]
    database_url: str
    redis: object
    upstream_url: str
    tmp: Path

    @property
    def urls(self) -> list[str]:
        return [r.base_url for r in self.replicas]


def replica_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "SOBRIA_REDIS_URL": redis_url,
        "SOBRIA_DATABASE_URL": database_url,
        "SOBRIA_PSEUDONYM_KEY": "hostile-replicas-share-this",
        "SOBRIA_BUDGETS__EMPLOYEE__EUR": f"{LIMIT_MICRO_EUR / 1_000_000:.6f}",
        "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000",
        "SOBRIA_BUDGETS__RESERVATION_TTL_S": "4",
        "SOBRIA_BUDGETS__ON_REDIS_UNAVAILABLE": "fail_open",
        "SOBRIA_BUDGETS__FAIL_OPEN_REPLICAS": "3",
        "SOBRIA_CONTENT_LOG_ENABLED": "true",
        "SOBRIA_UPSTREAM_RETRIES": "1",
        "SOBRIA_LEDGER_FLUSH_INTERVAL_S": "0.5",
        **extra,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_server("PostgreSQL", "127.0.0.1", 5432)
    tmp = tmp_path_factory.mktemp("hostile")
    name = f"sobria_hostile_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    redis = start_own_redis()
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(HOSTILE), "--port", str(port), "--tokens", "50", "--slow-interval-ms", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/stats", upstream)
    upstream_url = f"http://127.0.0.1:{port}/v1"
    env = replica_env(redis.url, database_url)
    replicas: list[Gateway] = []
    try:
        def start(i: int) -> Gateway:
            return start_gateway(tmp / f"replica{i}", catalogue(upstream_url), env,
                                 policy_yaml=policy_for(POLICY_FALLBACKS))

        for i in range(3):  # one after the other: the first creates the schema and the admin key
            replicas.append(start(i))
        yield Cluster(replicas, database_url, redis, upstream_url, tmp)
    finally:
        for replica in replicas:
            stop(replica.process)
        stop(upstream)
        redis.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if FIGURES:
            print("\n" + "\n".join(FIGURES))


@dataclass
class Answer:
    status: int
    request_id: str | None
    body: str


def employee(cluster: Cluster, label: str) -> tuple[str, str]:
    """A new employee in a department of their own: (API key, department)."""
    department = f"{label}-{uuid.uuid4().hex[:6]}"
    admin = {"Authorization": f"Bearer {cluster.replicas[0].admin_key}"}
    created = httpx.post(f"{cluster.urls[0]}/admin/keys", headers=admin, timeout=30,
                         json={"employee_id": f"{department}@example.org", "department": department})
    assert created.status_code == 201, created.text
    return created.json()["key"], department


async def fire(urls: list[str], key: str, bodies: list[dict], leave_after_headers: bool = False,
               use_case: str = "translation") -> list[Answer]:
    """Send every body at once, round-robin over the replicas; streams are read to the end."""
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": use_case}
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i: int, body: dict) -> Answer:
            url = f"{urls[i % len(urls)]}/v1/chat/completions"
            async with client.stream("POST", url, headers=headers, json=body) as response:
                if leave_after_headers:
                    return Answer(response.status_code, response.headers.get("x-request-id"), "")
                text = (await response.aread()).decode()
                return Answer(response.status_code, response.headers.get("x-request-id"), text)

        return await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))


async def _ledger_rows(database_url: str, department: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await connection.fetch(
            "SELECT request_id, status, http_status, cost_micro_eur, output_tokens, usage_source, requested_model,"
            " served_model"
            " FROM usage_records WHERE department = $1",
            department,
        )
    finally:
        await connection.close()


def ledger_rows(cluster: Cluster, department: str, expected: int, timeout_s: float = 20) -> list[asyncpg.Record]:
    """The department's ledger rows once `expected` of them are written."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = asyncio.run(_ledger_rows(cluster.database_url, department))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def assert_budget_held(row: str, cluster: Cluster, department: str, answers: list[Answer]) -> list[asyncpg.Record]:
    """The three promises: ledger within the limit, no more 200s than it pays for, one row per 200."""
    rows = ledger_rows(cluster, department, len(answers))
    ok = [a for a in answers if a.status == 200]
    assert all(a.status < 500 for a in answers), [a.body[:200] for a in answers if a.status >= 500]
    by_id: dict[str, list[asyncpg.Record]] = {}
    for record in rows:
        by_id.setdefault(record["request_id"], []).append(record)
    for answer in ok:
        assert len(by_id.get(answer.request_id or "", [])) == 1, f"200 {answer.request_id} without exactly one row"
    spent = sum(r["cost_micro_eur"] for r in rows)
    assert spent <= LIMIT_MICRO_EUR, f"{row}: ledger {spent} > limit {LIMIT_MICRO_EUR}"
    charged = [r["cost_micro_eur"] for r in rows if r["status"] == "ok"]
    assert ok, f"{row}: the budget admitted nothing (a test that cannot fail)"
    assert len(ok) <= LIMIT_MICRO_EUR // max(1, min(charged)), f"{row}: more 200s than the budget pays for"
    assert all(c > 0 for c in charged), f"{row}: an answer charged nothing"
    FIGURES.append(f"{row}: limit {LIMIT_MICRO_EUR} uEUR, ledger {spent} uEUR, {len(ok)} x 200 of {len(answers)}")
    return rows


def chat(model: str, **fields) -> dict:
    return {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "Bonjour"}], **fields}


@pytest.mark.parametrize(
    ("n", "max_tokens"), [(5, 20), (128, 2)], ids=["n5", "n128"]
)
def test_n_choices_plain_and_streamed_are_reserved_for_every_choice(cluster, n, max_tokens):
    key, department = employee(cluster, f"n{n}")
    bodies = [chat("honest-a", n=n, max_tokens=max_tokens, stream=i % 2 == 1) for i in range(60)]
    answers = asyncio.run(fire(cluster.urls, key, bodies))
    assert_budget_held(f"n={n} (plain and streamed)", cluster, department, answers)


def test_a_400_kb_tools_array_is_reserved_for_as_input(cluster):
    key, department = employee(cluster, "tools")
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": "d" * 2000,
                                          "parameters": {"type": "object", "properties": {}}}}
        for i in range(200)
    ]
    assert len(json.dumps(tools)) > 400_000
    bodies = [chat("honest-tools", tools=tools) for _ in range(50)]
    answers = asyncio.run(fire(cluster.urls, key, bodies))
    assert_budget_held("400 kB tools array", cluster, department, answers)


def test_an_upstream_without_usage_is_charged_what_the_gateway_counts(cluster):
    key, department = employee(cluster, "nousage")
    bodies = [chat("nousage-a") if i % 2 else chat("toolsonly-a", stream=True) for i in range(50)]
    answers = asyncio.run(fire(cluster.urls, key, bodies))
    rows = assert_budget_held("no usage (plain, and a stream of tool calls only)", cluster, department, answers)
    answered = [r for r in rows if r["status"] == "ok"]
    assert {r["usage_source"] for r in answered} == {"counted"}
    assert all(r["output_tokens"] > 0 for r in answered)


def test_a_fallback_ten_times_dearer_is_reserved_at_its_own_price(cluster):
    """`broken-large` fails; the policy's large chain and the catalogue both fall back to
    `honest-pricey`, ten times its price, which then serves every answer."""
    key, department = employee(cluster, "fallback")
    answers = asyncio.run(fire(cluster.urls, key, [chat("broken-large") for _ in range(50)], use_case="analysis"))
    rows = assert_budget_held("fallback 10x pricier than the primary", cluster, department, answers)
    assert {r["served_model"] for r in rows if r["status"] == "ok"} == {"honest-pricey"}


def test_impossible_provider_figures_are_clamped_not_a_500(cluster):
    key, department = employee(cluster, "clamped")
    bodies = [chat("negative-a" if i % 2 else "absurd-a", stream=i % 4 < 2) for i in range(50)]
    answers = asyncio.run(fire(cluster.urls, key, bodies))
    rows = assert_budget_held("negative / absurd completion_tokens", cluster, department, answers)
    assert {r["usage_source"] for r in rows if r["status"] == "ok"} == {"clamped"}


def test_streams_longer_than_the_reservation_ttl_with_a_replica_20_minutes_ahead(cluster, tmp_path):
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(SKEWED_CLOCK)
    env = replica_env(cluster.redis.url, cluster.database_url,
                      PYTHONPATH=f"{skew}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                      SOBRIA_TEST_CLOCK_OFFSET_S="1200")
    ahead = start_gateway(tmp_path / "ahead", catalogue(cluster.upstream_url), env,
                          policy_yaml=policy_for(POLICY_FALLBACKS))
    try:
        key, department = employee(cluster, "ttl")
        urls = [*cluster.urls, ahead.base_url]
        # 45 words at 100 ms: each stream runs 4.5 s, past the 4 s TTL; a second wave comes at 4.2 s.
        body = chat("slow-a", stream=True, max_tokens=45)

        async def waves() -> list[Answer]:
            first = asyncio.create_task(fire(urls, key, [body] * 25))
            await asyncio.sleep(4.2)
            second = await fire(urls[::-1], key, [body] * 25)
            return [*(await first), *second]

        answers = asyncio.run(waves())
        assert_budget_held("streams longer than the TTL, one replica 20 min ahead", cluster, department, answers)
    finally:
        stop(ahead.process)


def test_redis_flushed_with_requests_in_flight_on_three_replicas(cluster):
    import redis as sync_redis

    key, department = employee(cluster, "flush")
    client = sync_redis.Redis.from_url(cluster.redis.url)

    async def flush_mid_flight() -> list[Answer]:
        answered = await fire(cluster.urls, key, [chat("honest-dear")] * 2)  # answered, not yet written
        streams = asyncio.create_task(fire(cluster.urls, key, [chat("slow-a", stream=True)] * 20))
        await asyncio.sleep(0.5)
        client.flushall()
        later = await fire(cluster.urls, key, [chat("honest-dear")] * 30)
        return [*answered, *(await streams), *later]

    answers = asyncio.run(flush_mid_flight())
    client.close()
    assert_budget_held("Redis FLUSHALL with requests in flight (3 replicas)", cluster, department, answers)


def test_a_nul_in_the_model_a_path_or_a_prompt_never_stops_the_ledger(cluster):
    key, department = employee(cluster, "nul")
    refused = asyncio.run(fire(cluster.urls, key, [chat("x\u0000")]))
    assert refused[0].status == 404
    with httpx.Client(timeout=10) as client:
        trace = client.delete(f"{cluster.urls[1]}/admin/budgets/employee:x%00",
                              headers={"Authorization": "Bearer sk-sobria-nope"})
        assert trace.status_code == 401
    nul_prompt = {"model": "honest-a", "max_tokens": 20, "messages": [{"role": "user", "content": "a\u0000b"}]}
    served = asyncio.run(fire(cluster.urls, key, [nul_prompt]))
    assert served[0].status == 200, served[0].body[:200]
    answers = [*served, *asyncio.run(fire(cluster.urls, key, [chat("honest-a")] * 49))]
    rows = assert_budget_held("model 'x\\u0000', prompt with NUL (PostgreSQL ledger)", cluster, department,
                              [*refused, *answers])
    assert [r["requested_model"] for r in rows if r["http_status"] == 404] == ["x"]
    with httpx.Client(timeout=10) as client:
        for url in cluster.urls:
            assert client.get(f"{url}/readyz").status_code == 200
        admin = {"Authorization": f"Bearer {cluster.replicas[0].admin_key}"}
        deadline = time.monotonic() + 10
        while True:
            paths = [r["path"] for r in client.get(f"{cluster.urls[0]}/admin/access/refusals", headers=admin)
                     .json()["data"]]
            if "/admin/budgets/employee:x" in paths or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "/admin/budgets/employee:x" in paths
        letters = client.get(f"{cluster.urls[0]}/admin/ledger/dead-letters", headers=admin)
        assert letters.status_code == 200
    content = asyncio.run(_content_rows(cluster.database_url, [served[0].request_id]))
    assert content and "\x00" not in content[0]["prompt"]


async def _content_rows(database_url: str, request_ids: list) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for _ in range(50):
            rows = await connection.fetch("SELECT prompt FROM content_log WHERE request_id = ANY($1)", request_ids)
            if rows:
                return rows
            await asyncio.sleep(0.2)
        return []
    finally:
        await connection.close()


def test_a_stream_abandoned_before_the_first_byte_is_client_disconnected(cluster):
    key, department = employee(cluster, "abandon")
    answers = asyncio.run(fire(cluster.urls, key, [chat("late-a", stream=True)] * 6, leave_after_headers=True))
    opened = [a.request_id for a in answers if a.status == 200]
    assert opened and all(a.status in (200, 429) for a in answers)
    rows = {r["request_id"]: r for r in ledger_rows(cluster, department, len(answers))}
    assert [(rows[i]["status"], rows[i]["http_status"], rows[i]["output_tokens"]) for i in opened] == [
        ("client_disconnected", 499, 0)
    ] * len(opened)
    assert not [r for r in rows.values() if r["status"] == "ok"]
    stats_url = cluster.upstream_url.removesuffix("/v1") + "/stats"
    deadline = time.monotonic() + 10
    while (stats := httpx.get(stats_url).json()).get("late-a:cancelled", 0) < len(opened) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stats.get("late-a:cancelled", 0) == len(opened) and "late-a:finished" not in stats  # cancelled upstream
    spent = sum(r["cost_micro_eur"] for r in rows.values())
    assert spent <= LIMIT_MICRO_EUR
    FIGURES.append(f"abandoned before first byte: limit {LIMIT_MICRO_EUR} uEUR, ledger {spent} uEUR, "
                   f"0 x ok; {len(opened)} streams opened, all recorded client_disconnected/499")


def test_fail_open_with_redis_down_admits_only_each_replicas_share(cluster):
    key, department = employee(cluster, "failopen")
    cluster.redis.stop()
    try:
        answers = asyncio.run(fire(cluster.urls, key, [chat("honest-dear")] * 30))
    finally:
        cluster.redis.start()
    assert_budget_held("fail_open with Redis down (3 replicas)", cluster, department, answers)


SKEWED_CLOCK = '''
"""Test-only: this process's wall clock runs SOBRIA_TEST_CLOCK_OFFSET_S ahead (monotonic clocks unchanged)."""
import datetime as _datetime
import os as _os
import time as _time

import sklearn.linear_model  # noqa: F401 - compiled modules bind the real datetime type before it is replaced

_OFFSET = float(_os.environ.get("SOBRIA_TEST_CLOCK_OFFSET_S", "0"))
_real_time, _Real = _time.time, _datetime.datetime
_time.time = lambda: _real_time() + _OFFSET
_time.time_ns = lambda: int((_real_time() + _OFFSET) * 1e9)


class _Skewed(_Real):
    @classmethod
    def now(cls, tz=None):
        return _Real.now(tz) + _datetime.timedelta(seconds=_OFFSET)

    @classmethod
    def utcnow(cls):
        return _Real.now(_datetime.UTC).replace(tzinfo=None) + _datetime.timedelta(seconds=_OFFSET)

    @classmethod
    def fromtimestamp(cls, t, tz=None):
        return _Real.fromtimestamp(t, tz)


_datetime.datetime = _Skewed
'''
