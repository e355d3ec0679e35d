"""The ledger at the scale of a large organisation: readers before and after the roll-ups.

Generates a synthetic ledger of N rows straight in PostgreSQL with one INSERT ...
SELECT over generate_series (10,000 employees with a skewed activity, 40 departments,
the default policy's use cases, the catalogue's models, 35 days, rows shaped as the
gateway writes them), builds the roll-ups with the same statements as `sobria ledger
rollup --rebuild`, then times on the same data:

- each committee grouping (the month's cube plus distinct users per group), p95;
- `sobria report` (the report's collection: two months' cubes and the methods);
- `/v1/me/usage` for random employees, p95;
- a budget rebuild after FLUSHALL under 64 concurrent requests of 64 employees of one
  department (its own redis-server), slowest request and failures;
- sustained ingest through `LedgerWriter` (rows and roll-ups), rows/s on one process;
- counter operations per second one Redis primary sustains (reserve + settle).

"before" runs main's code (`--baseline`, a git revision) loaded from git; "after" the
working tree. Writes `bench/results/ledger-scale-<rows>.json` and prints a Markdown table.

    python bench/ledger_scale.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.store import EUR, GCO2E, Amount, BudgetLimit
from gateway.providers.catalogue import Catalogue
from gateway.inventory import report as report_after
from gateway.inventory.register import Register
from gateway.inventory.usage import UsageAggregator, roll_up
from gateway.ledger import db, presence, rollups
from gateway.ledger.writer import LedgerWriter
from gateway.ledger.own_usage import own_usage

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
EMPLOYEES, DEPARTMENTS, DAYS = 10_000, 40, 35
USE_CASES = ["general", "translation", "summarisation", "title_generation", "drafting", "code", "analysis"]
MODELS = ["mistral-small", "gpt-4o-mini", "local-llama", "mistral-medium", "gpt-4.1-mini", "mistral-large", "gpt-4o"]
GROUPINGS = [["use_case"], ["department"], ["model"], ["use_case", "department"], ["department", "model"],
             ["use_case", "department", "model"]]
DETAIL = json.dumps({
    "usage": {k: [0.0123457, 0.00617284, 0.0246914] for k in ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq", "pe_mj")},
    "embodied": {k: [0.000123457, 6.17284e-05, 0.000246914] for k in ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq",
                                                                    "pe_mj")},
    "zone": "FRA", "gwp_market_g": {"value": 0.5, "min": 0.25, "max": 1.0}})


def generate_sql(first: int, last: int, now: datetime) -> str:
    """Rows [first, last] of the synthetic ledger, as one INSERT ... SELECT."""
    use_cases = "(ARRAY[" + ",".join(f"'{u}'" for u in USE_CASES) + "])"
    models = "(ARRAY[" + ",".join(f"'{m}'" for m in MODELS) + "])"
    return f"""
    INSERT INTO usage_records (request_id, started_at, finished_at, employee_pseudonym, department, roles, key_id,
        use_case, requested_model, served_model, rule_id, policy_version, classifier_confidence, status, http_status,
        stream, demo, input_tokens, output_tokens, max_tokens, latency_ms, ttft_ms, cost_micro_eur, gwp_ug, gwp_g_min,
        gwp_g_max, gwp_market_ug, energy_wh, energy_wh_min, energy_wh_max, water_ml, adpe_kgsbeq, pe_mj,
        impact_method, factor_set_version, impact_source, impacts_detail, error_message)
    SELECT 'req_' || md5(g::text || '{now.isoformat()}'), at, at + interval '2 seconds', 'p' || lpad(emp::text, 6, '0'),
        'dept-' || lpad((emp % {DEPARTMENTS})::text, 2, '0'), 'employee', 'k' || emp, uc, 'auto', model, 'r-' || uc,
        'v1', 0.9, CASE WHEN r3 < 0.02 THEN 'upstream_error' ELSE 'ok' END, CASE WHEN r3 < 0.02 THEN 502 ELSE 200 END,
        r3 < 0.5, false, intok, outtok, 1024, 200 + r3 * 2000, 150, (intok * 2 + outtok * 6) * (1 + mi),
        (intok + outtok * 3) * (1 + mi) * 10, 0.01, 0.05,
        CASE WHEN model LIKE 'mistral%' THEN (intok + outtok * 3) * (1 + mi) * 2 END,
        (intok + outtok * 3) * (1 + mi) * 1e-5, 1e-5, 1e-4, 0.1 * (1 + mi), 1e-9, 1e-4,
        'ecologits-0.6-hosted', '2026.1', 'model-based', '{DETAIL}'::json, NULL
    FROM (
        SELECT g, emp, uc, at, intok, outtok, r3, mi, {models}[mi + 1] AS model FROM (
            SELECT g, emp, uc, at, intok, outtok, r3,
                   CASE WHEN uc IN ('title_generation', 'translation') THEN (g % 3)
                        WHEN uc IN ('code', 'analysis') THEN 3 + (g % 4) ELSE (g % 7) END AS mi
            FROM (
                SELECT g,
                       floor(power(random(), 2) * {EMPLOYEES})::int AS emp,
                       {use_cases}[1 + floor(power(random(), 1.5) * {len(USE_CASES)})::int] AS uc,
                       timestamptz '{now.isoformat()}' - random() * interval '{DAYS} days' AS at,
                       (50 + random() * 3000)::int AS intok, (20 + random() * 700)::int AS outtok,
                       random() AS r3
                FROM generate_series({first}, {last}) AS g) a) b) c
    """


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


#: Modules the baseline code imports that have moved since (gateway/ grouped into packages).
MOVED_SINCE_BASELINE = {"from gateway.catalogue import": "from gateway.providers.catalogue import"}


def main_module(revision: str, path: str, name: str, replace: dict[str, str] | None = None) -> types.ModuleType:
    """A module of the baseline revision, loaded from git (for the "before" figures)."""
    source = subprocess.check_output(["git", "show", f"{revision}:{path}"], cwd=ROOT, text=True)
    for old, new in {**MOVED_SINCE_BASELINE, **(replace or {})}.items():
        source = source.replace(old, new)
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - the baseline's own code
    return module


SKIPPED = {"p95_s": None, "skipped": "--skip-before (see the run without it)"}


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def timed(call: Callable[[], Awaitable[Any]], runs: int, cap_s: float) -> dict[str, Any]:
    samples: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        try:
            await asyncio.wait_for(call(), timeout=cap_s)
        except TimeoutError:
            return {"p95_s": None, "over_s": cap_s, "runs": len(samples)}
        samples.append(time.perf_counter() - began)
    return {"p95_s": p95(samples), "median_s": statistics.median(samples), "runs": runs}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, int, Path]:
    """A private redis-server on a free port (this bench flushes it), answering PING."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="sobria-bench-redis-"))
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                               "--dir", str(work)], stdout=subprocess.DEVNULL)
    for _ in range(200):
        probe = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
        if probe.stdout.strip() == "PONG":
            break
        time.sleep(0.05)
    return server, port, work


async def committee(aggregator: Any, month: str, dims: list[str], by_group_loop: bool) -> None:
    data = await aggregator.month(month)
    if by_group_loop:  # main's route: one distinct-users query per group
        roll = sys.modules[type(aggregator).__module__].roll_up
        for key, _ in sorted(roll(data.cells, dims).items()):
            members = [c for c in data.published if tuple(getattr(c, d) for d in dims) == key]
            await aggregator.distinct_users(month, members)
    else:
        roll_up(data.cells, dims)
        await aggregator.distinct_users_by(month, data.published, dims)


async def rebuild_burst(engine: Any, source: Any, employees: list[str], department: str) -> dict[str, Any]:
    """FLUSHALL on a private redis-server, then 64 concurrent requests of 64 employees."""
    server, port, work = await asyncio.to_thread(start_redis)
    client = Redis(port=port, socket_timeout=30)
    try:
        await client.flushall()
        store = RedisBudgetStore(client, prefix="bench:", rebuild_source=source)
        now = datetime.now(UTC)

        async def one(employee: str) -> tuple[float, bool]:
            limits = [BudgetLimit(f"employee:{employee}", unit, 10**12) for unit in (EUR, GCO2E)]
            limits += [BudgetLimit(f"department:{department}", unit, 10**15) for unit in (EUR, GCO2E)]
            limits += [BudgetLimit("org", unit, 10**16) for unit in (EUR, GCO2E)]
            began = time.perf_counter()
            try:
                result = await asyncio.wait_for(store.reserve(uuid.uuid4().hex, limits, Amount(10, 10), now), 120)
                ok = result.granted
            except (RedisError, TimeoutError, RuntimeError):
                ok = False
            return time.perf_counter() - began, ok

        results = await asyncio.gather(*(one(e) for e in employees))
        return {"slowest_s": max(t for t, _ in results), "failed": sum(1 for _, ok in results if not ok),
                "requests": len(results)}
    finally:
        await client.aclose()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


async def counter_ops(seconds: float = 10.0, concurrency: int = 64) -> dict[str, Any]:
    """reserve + settle (the gateway's Lua scripts) against one Redis primary this bench starts.

    Each request reserves on, then settles, the 8 counters a real request touches
    (employee, department, use case and org, in EUR and gCO2e). Redis's own CPU time over
    the run (INFO cpu) gives what one primary sustains at one full core: script calls per
    Redis CPU-second, the driver (one Python process) being the limit here, not Redis."""
    server, port, work = await asyncio.to_thread(start_redis)
    client = Redis(port=port, socket_timeout=5, max_connections=concurrency + 16)
    try:
        store = RedisBudgetStore(client, prefix="ops:")
        calls = 0
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal calls
            limits = [BudgetLimit(scope, unit, 10**15) for scope in (f"employee:e{n}", f"department:d{n % 40}",
                                                                     f"use_case:u{n % 7}", "org")
                      for unit in (EUR, GCO2E)]
            while time.perf_counter() < deadline:
                now = datetime.now(UTC)
                rid = uuid.uuid4().hex
                await store.reserve(rid, limits, Amount(5, 5), now)
                await store.settle(rid, Amount(4, 4), now)
                calls += 2

        async def redis_cpu_s() -> float:
            info = await client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        cpu_before = await redis_cpu_s()
        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        wall = time.perf_counter() - began
        redis_cpu = await redis_cpu_s() - cpu_before
        return {"script_calls_per_s_driven": calls / wall, "redis_cpu_share": redis_cpu / wall,
                "script_calls_per_redis_cpu_s": calls / redis_cpu if redis_cpu else None,
                "counters_per_call": 8, "concurrency": concurrency, "seconds": wall}
    finally:
        await client.aclose()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def ingest_record(n: int, now: datetime) -> dict[str, Any]:
    rng = random.Random(n)
    emp = int(rng.random() ** 2 * EMPLOYEES)
    return {
        "request_id": f"ingest-{uuid.uuid4().hex}", "started_at": now, "finished_at": now,
        "employee_pseudonym": f"p{emp:06d}", "department": f"dept-{emp % DEPARTMENTS:02d}", "roles": "employee",
        "key_id": f"k{emp}", "use_case": rng.choice(USE_CASES), "requested_model": "auto",
        "served_model": rng.choice(MODELS), "rule_id": "r", "policy_version": "v1", "classifier_confidence": 0.9,
        "status": "ok", "http_status": 200, "stream": True, "demo": False, "input_tokens": 500, "output_tokens": 200,
        "max_tokens": 1024, "latency_ms": 800.0, "ttft_ms": 150.0, "cost_micro_eur": 2000, "gwp_ug": 3000,
        "gwp_g_min": 0.001, "gwp_g_max": 0.01, "gwp_market_ug": 1500, "energy_wh": 0.01, "energy_wh_min": 0.005,
        "energy_wh_max": 0.02, "water_ml": 0.1, "adpe_kgsbeq": 1e-9, "pe_mj": 1e-4,
        "impact_method": "ecologits-0.6-hosted", "factor_set_version": "2026.1", "impact_source": "model-based",
        "impacts_detail": json.loads(DETAIL), "error_message": None,
    }


async def ingest(engine: Any, rows: int, writer_class: type = LedgerWriter, rollups_module: Any = rollups,
                 with_rollups: bool = True) -> float:
    """Rows/s a ledger writer keeps up with, appending as fast as one process can."""
    original = rollups_module.apply
    if not with_rollups:
        async def no_rollups(connection: Any, batch: Any) -> None:
            return None
        rollups_module.apply = no_rollups
    try:
        writer = writer_class(engine, flush_interval_s=0.05, batch_size=500)
        await writer.start()
        now = datetime.now(UTC)
        records = [ingest_record(n, now) for n in range(rows)]
        began = time.perf_counter()
        for i, record in enumerate(records):
            writer.append(record)
            if i % 500 == 0:
                await asyncio.sleep(0)
        await writer.stop()
        return rows / (time.perf_counter() - began)
    finally:
        rollups_module.apply = original


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"sobria_bench_scale_{args.rows}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    now = datetime.now(UTC).replace(microsecond=0)
    out: dict[str, Any] = {"rows": args.rows, "baseline": args.baseline, "generated_at": now.isoformat(),
                           "load_avg_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    if not args.reuse:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin(f'CREATE DATABASE "{name}"')
        await db.upgrade(url)
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            await conn.execute("SET synchronous_commit = off")
            began = time.perf_counter()
            step = 500_000
            for first in range(1, args.rows + 1, step):
                await conn.execute(generate_sql(first, min(args.rows, first + step - 1), now))
                print(f"generated {min(args.rows, first + step - 1):,} rows  {time.perf_counter() - began:.0f} s",
                      flush=True)
            out["generate_s"] = time.perf_counter() - began
            await conn.execute("ANALYZE usage_records")
            began = time.perf_counter()
            engine = db.make_engine(url)
            async with engine.begin() as sa:
                await sa.exec_driver_sql("SET LOCAL work_mem = '256MB'")
                for statement in rollups.rebuild_statements("postgresql", now - timedelta(days=DAYS + 1),
                                                             now + timedelta(days=1)):
                    await sa.execute(statement)
                for statement in (*presence.grouped_from_cells("postgresql"), *presence.recount_statements()):
                    await sa.execute(statement)
            await engine.dispose()
            out["rollups_build_s"] = time.perf_counter() - began
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    if args.generate_only:
        return out
    if args.reuse:  # a ledger generated by an earlier revision: upgraded as a deployment would be
        began = time.perf_counter()
        await db.upgrade(url)
        out["upgrade_s"] = time.perf_counter() - began
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        sizes = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class WHERE relname IN "
            "('usage_spend_hourly', 'usage_daily', 'usage_employee_daily', 'usage_presence_monthly', "
            "'usage_presence_grouped', 'usage_presence_counts')")
        out["rollup_bytes"] = {r["relname"]: r["bytes"] for r in sizes}
        out["raw_bytes"] = int(await conn.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'usage_records'::regclass"))
        counts = await conn.fetch(
            "SELECT 'usage_spend_hourly' t, count(*) FROM usage_spend_hourly UNION ALL "
            "SELECT 'usage_daily', count(*) FROM usage_daily UNION ALL "
            "SELECT 'usage_employee_daily', count(*) FROM usage_employee_daily UNION ALL "
            "SELECT 'usage_presence_monthly', count(*) FROM usage_presence_monthly UNION ALL "
            "SELECT 'usage_presence_grouped', count(*) FROM usage_presence_grouped UNION ALL "
            "SELECT 'usage_presence_counts', count(*) FROM usage_presence_counts")
        out["rollup_rows"] = {r["t"]: r["count"] for r in counts}
        print(json.dumps({k: out[k] for k in ("rollup_rows", "raw_bytes")}), flush=True)
    finally:
        await conn.close()

    engine = db.make_engine(url)
    base = args.baseline
    usage_before = main_module(base, "gateway/inventory/usage.py", "bench_main_inventory_usage")
    report_before = main_module(base, "gateway/inventory/report.py", "bench_main_report",
                                {"from gateway.inventory.usage import": "from bench_main_inventory_usage import"})
    me_before = main_module(base, "gateway/usage.py", "bench_main_usage")  # its path in the baseline revision
    source_before = main_module(base, "gateway/budgets/ledger_source.py", "bench_main_ledger_source")
    month = (now - timedelta(days=DAYS // 2)).strftime("%Y-%m")  # the month holding most of the 35 days
    out["month"] = month
    k = 5
    before_agg, after_agg = usage_before.UsageAggregator(engine, k), UsageAggregator(engine, k)
    previous_agg = None
    if args.previous:
        usage_previous = main_module(args.previous, "gateway/inventory/usage.py", "bench_previous_inventory_usage")
        previous_agg = usage_previous.UsageAggregator(engine, k)
    results: dict[str, Any] = {}

    for dims in GROUPINGS:
        label = "committee " + " x ".join(dims)
        results[label] = {
            "before": SKIPPED if args.skip_before else await timed(
                functools.partial(committee, before_agg, month, dims, True), 1, args.cap_s),
            "after": await timed(functools.partial(committee, after_agg, month, dims, False), args.runs, args.cap_s),
        }
        if previous_agg is not None:
            results[label]["previous"] = await timed(functools.partial(committee, previous_agg, month, dims, False),
                                                     args.runs, args.cap_s)
            results[label]["previous_revision"] = args.previous
        results[label]["load_avg_1m"] = os.getloadavg()[0]
        print(label, results[label], flush=True)

    catalogue = Catalogue.load(None)
    register = Register(engine, None)  # type: ignore[arg-type]
    results["sobria report --month"] = {
        "before": SKIPPED if args.skip_before else await timed(
            lambda: report_before.build_report(engine, register, before_agg, catalogue, month), 1, args.cap_s),
        "after": await timed(lambda: report_after.build_report(engine, register, after_agg, catalogue, month),
                             5, args.cap_s),
    }
    results["sobria report --month"]["load_avg_1m"] = os.getloadavg()[0]
    print("report", results["sobria report --month"], flush=True)

    rng = random.Random(1)
    people = [f"p{int(rng.random() ** 2 * EMPLOYEES):06d}" for _ in range(30)]

    async def me(module: Any) -> None:
        await module(engine, rng.choice(people), now, 30)

    results["/v1/me/usage"] = {"before": await timed(lambda: me(me_before.own_usage), 30, args.cap_s),
                               "after": await timed(lambda: me(own_usage), 30, args.cap_s)}
    results["/v1/me/usage"]["load_avg_1m"] = os.getloadavg()[0]
    print("me", results["/v1/me/usage"], flush=True)

    department = "dept-07"
    staff = [f"p{n:06d}" for n in range(7, EMPLOYEES, DEPARTMENTS)][:64]
    after_bursts = []
    for _ in range(3):  # before the baseline's burst, whose two minutes of raw scans load the machine
        burst = await rebuild_burst(engine, LedgerRebuildSource(engine), staff, department)
        after_bursts.append({**burst, "load_avg_1m": os.getloadavg()[0]})
    results["rebuild after FLUSHALL, 64 concurrent"] = {
        "after": max(after_bursts, key=lambda b: b["slowest_s"]),
        "after_runs": after_bursts,
        "before": await rebuild_burst(engine, source_before.LedgerRebuildSource(engine), staff, department),
    }
    results["rebuild after FLUSHALL, 64 concurrent"]["load_avg_1m"] = os.getloadavg()[0]
    print("rebuild", results["rebuild after FLUSHALL, 64 concurrent"], flush=True)

    rollups_before = main_module(args.writer_baseline, "gateway/ledger/rollups.py", "bench_main_rollups")
    main_module(args.writer_baseline, "gateway/ledger/sanitise.py", "bench_main_sanitise")
    writer_before = main_module(args.writer_baseline, "gateway/ledger/writer.py", "bench_main_writer",
                                {"from gateway.ledger import rollups": "import bench_main_rollups as rollups",
                                 "from gateway.ledger.sanitise import": "from bench_main_sanitise import"})
    results["ingest rows/s, one process"] = {
        "before": await ingest(engine, args.ingest_rows, writer_before.LedgerWriter, rollups_before),
        "after": await ingest(engine, args.ingest_rows),
        "after, raw rows only (no roll-ups)": await ingest(engine, args.ingest_rows, with_rollups=False),
        "before_revision": args.writer_baseline,
    }
    results["ingest rows/s, one process"]["load_avg_1m"] = os.getloadavg()[0]
    print("ingest", results["ingest rows/s, one process"], flush=True)
    results["redis counter ops/s (one primary)"] = await counter_ops()
    results["redis counter ops/s (one primary)"]["load_avg_1m"] = os.getloadavg()[0]
    print("redis", results["redis counter ops/s (one primary)"], flush=True)
    await engine.dispose()
    out["results"] = results
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", default="4027fa8", help="git revision whose code gives the 'before' figures")
    parser.add_argument("--writer-baseline", default="38b22cf",
                        help="git revision whose ledger writer gives the 'before' ingest figure")
    parser.add_argument("--previous", default=None,
                        help="git revision whose committee code gives a third column (the step before this one)")
    parser.add_argument("--skip-before", action="store_true",
                        help="leave out the baseline's committee and report (over the cap at 10M rows)")
    parser.add_argument("--runs", type=int, default=10, help="timed 'after' runs of each committee grouping")
    parser.add_argument("--cap-s", type=float, default=300.0, help="give up on one timed call after this")
    parser.add_argument("--ingest-rows", type=int, default=30_000)
    parser.add_argument("--reuse", action="store_true", help="keep the generated database of a previous run")
    parser.add_argument("--generate-only", action="store_true", help="generate the ledger and its roll-ups, time nothing")
    args = parser.parse_args()
    out = asyncio.run(run(args))
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "-generate" if args.generate_only else ""
    (folder / f"ledger-scale-{args.rows}{suffix}.json").write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
