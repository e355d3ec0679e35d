"""Impact estimation and restatement cost, each against a baseline measured in the same run.

- per-request estimate: `HostedEstimator.estimate` for the catalogue's gpt-4o, against the
  bare EcoLogits call it wraps (`llm_impacts`, output tokens only, no uncertainty model);
- restatement: `sobria impacts restate` over a generated ledger of `--rows` rows (SQLite
  file, or `--database-url`) to a temporary copy of the current factor set, against a
  plain read of the same rows.

Run: python bench/impacts_bench.py [--rows 20000] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta

import yaml
from ecologits.tracers.utils import llm_impacts
from sqlalchemy import insert, select

from estimators.factors import CURRENT_VERSION, DATA_DIR
from estimators.hosted import HostedEstimator
from gateway.providers.catalogue import Catalogue, ModelSpec
from gateway.ledger import db
from gateway.ledger.records import impact_columns
from gateway.ledger.tables import UsageRecord
from gateway.ledger.restatement import restate


def per_call_us(fn, n: int) -> float:
    fn(0)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def gpt_4o() -> ModelSpec:
    spec = Catalogue.load(env={}).get("gpt-4o")
    assert spec is not None
    return spec


def bench_estimate(n: int) -> None:
    spec = gpt_4o()
    estimator = HostedEstimator()
    ours = per_call_us(lambda i: estimator.estimate(spec.impact, 200 + i % 500, 400, 3.0), n)
    bare = per_call_us(lambda i: llm_impacts("openai", "gpt-4o", 400 + i % 500, 3.0, "USA"), max(n // 10, 50))
    print(f"estimate: {ours:.0f} us per call; bare EcoLogits llm_impacts: {bare:.0f} us; ratio {ours / bare:.2f}")


async def bench_restate(url: str, rows: int) -> None:
    await db.upgrade(url)
    engine = db.make_engine(url)
    spec = gpt_4o()
    estimator = HostedEstimator()
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    batch = []
    for i in range(rows):
        at = t0 + timedelta(seconds=i)
        batch.append({
            "request_id": f"bench-{i}", "started_at": at, "finished_at": at, "employee_pseudonym": f"p{i % 5000}",
            "department": "finance", "roles": "employee", "key_id": "k", "use_case": "translation",
            "requested_model": "auto", "served_model": "gpt-4o", "status": "ok", "http_status": 200,
            "input_tokens": 200 + i % 800, "output_tokens": 400, "latency_ms": 3000.0, "cost_micro_eur": 1,
            **impact_columns(estimator.estimate(spec.impact, 200 + i % 800, 400, 3.0)),
        })
        if len(batch) == 2000:
            async with engine.begin() as conn:
                await conn.execute(insert(UsageRecord), batch)
            batch = []
    if batch:
        async with engine.begin() as conn:
            await conn.execute(insert(UsageRecord), batch)
    start = time.perf_counter()
    async with engine.connect() as conn:
        read = len((await conn.execute(select(UsageRecord))).all())
    read_s = time.perf_counter() - start
    target = "sobria-factors-9999.1"
    path = DATA_DIR / f"{target}.yaml"
    data = yaml.safe_load((DATA_DIR / f"{CURRENT_VERSION}.yaml").read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**data, "version": target}), encoding="utf-8")
    try:
        start = time.perf_counter()
        result = await restate(engine, target, "bench")
        restate_s = time.perf_counter() - start
    finally:
        path.unlink()
    await engine.dispose()
    rate = result.restated / restate_s if restate_s > 0 else math.inf
    print(f"restate: {result.restated} rows to {target} in {restate_s:.1f} s ({rate:.0f} rows/s); "
          f"plain read of {read} rows {read_s:.2f} s; ratio {restate_s / max(read_s, 1e-9):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    bench_estimate(args.calls)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(bench_restate(url, args.rows))


if __name__ == "__main__":
    main()
