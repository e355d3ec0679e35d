"""A bounded soak on loopback: steady traffic through `sobria serve --workers N` for a while.

The gateway runs with its own `redis-server` (free port, no persistence) and its own
PostgreSQL database (created on the machine's server for the run, dropped after), in
front of the mock upstream. Requests leave at a steady rate (open loop: a slow gateway
does not slow the sender), alternating plain and streamed, spread over a few
employees. While it runs, the resident memory of every worker is sampled.

At the end it checks the invariants and exits non-zero when one is violated:
- errors: no request fails (non-200, transport error, stream without `[DONE]`);
- memory: the workers' total RSS at the end is within `--max-rss-growth` (10 %) of
  what it was after the warm-up, and no worker was replaced;
- ledger: one row per request sent (a refusal has its row too), every answered
  `X-Request-Id` among them;
- budgets: each employee's spending in the Redis counters (read through
  `/v1/me/usage`) equals the sum of `cost_micro_eur` of their ledger rows, and no
  reservation is left held.

Run: python bench/soak.py [--duration 600] [--rate 20] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import free_port, stop, wait_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOBRIA = Path(sys.executable).with_name("sobria")
POSTGRES_ADMIN = os.environ.get("SOBRIA_SOAK_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
EMPLOYEES = ("soak-ana", "soak-ben", "soak-cleo", "soak-dan")


@dataclass
class SoakConfig:
    duration_s: float = 600.0
    rate_rps: float = 20.0
    workers: int = 2
    stream_every: int = 2  # every n-th request is streamed
    sample_every_s: float = 10.0
    warmup_s: float | None = None  # default: 20 % of the duration, at most 60 s
    max_rss_growth: float = 0.10
    max_in_flight: int = 256
    upstream_delay_ms: float = 20.0
    output_tokens: int = 32

    @property
    def effective_warmup_s(self) -> float:
        return self.warmup_s if self.warmup_s is not None else min(60.0, self.duration_s * 0.2)


@dataclass
class SoakReport:
    config: dict[str, Any]
    sent: int = 0
    answered: int = 0
    streamed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    rss_samples: list[dict[str, Any]] = field(default_factory=list)
    rss_baseline_mb: float = 0.0
    rss_final_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_growth: float = 0.0
    worker_pids: list[int] = field(default_factory=list)
    ledger_rows: int = 0
    answered_missing_from_ledger: int = 0
    ledger_micro_eur: dict[str, int] = field(default_factory=dict)
    budget_spent_micro_eur: dict[str, int] = field(default_factory=dict)
    budget_reserved_micro_eur: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        lines = [
            f"soak: {self.config['duration_s']:.0f} s at {self.config['rate_rps']:g} req/s, "
            f"{self.config['workers']} workers, wall {self.wall_s:.1f} s",
            f"  requests: {self.sent} sent, {self.answered} answered ({self.streamed} streamed), "
            f"errors {sum(self.errors.values())} {dict(self.errors) or ''}".rstrip(),
            f"  latency: p50 {self.latency_p50_ms:.1f} ms, p99 {self.latency_p99_ms:.1f} ms",
            f"  workers RSS (sum of {len(self.worker_pids)}): {self.rss_baseline_mb:.1f} MB after warm-up, "
            f"{self.rss_final_mb:.1f} MB at the end, peak {self.rss_peak_mb:.1f} MB, "
            f"growth {self.rss_growth * 100:+.1f} %",
            f"  ledger: {self.ledger_rows} rows for {self.sent} sent / {self.answered} answered, "
            f"{self.answered_missing_from_ledger} answered ids missing",
        ]
        for key_id, ledger in sorted(self.ledger_micro_eur.items()):
            spent = self.budget_spent_micro_eur.get(key_id)
            reserved = self.budget_reserved_micro_eur.get(key_id)
            lines.append(f"  budget {key_id}: counters {spent} µEUR (reserved {reserved}), ledger {ledger} µEUR")
        lines.append("  invariants: " + ("all hold" if self.ok else "VIOLATED"))
        lines += [f"    - {v}" for v in self.violations]
        return "\n".join(lines)


async def _postgres(sql: str, dsn: str = POSTGRES_ADMIN, fetch: bool = False) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        if fetch:
            return list(await connection.fetch(sql))
        await connection.execute(sql)
        return []
    finally:
        await connection.close()


def _micro(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


class Stack:
    """The mock upstream, a private Redis, a fresh database and the gateway under test."""

    def __init__(self, config: SoakConfig, work: Path):
        self.config = config
        self.work = work
        self.database = f"sobria_soak_{uuid.uuid4().hex[:8]}"
        self.database_dsn = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{self.database}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.database_created = False
        self.base_url = ""
        self.keys: dict[str, str] = {}  # key id -> key

    def start(self) -> None:
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        upstream_port = free_port()
        self.processes["upstream"] = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "mock_upstream.py"), "--port", str(upstream_port),
             "--delay-ms", str(self.config.upstream_delay_ms), "--output-tokens", str(self.config.output_tokens)],
            **quiet,
        )
        redis_port = free_port()
        self.processes["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            **quiet,
        )
        asyncio.run(_postgres(f'CREATE DATABASE "{self.database}"'))
        self.database_created = True
        wait_up(f"http://127.0.0.1:{upstream_port}/stats", self.processes["upstream"])

        upstream = f"http://127.0.0.1:{upstream_port}/v1"
        models = [
            {
                "name": f"soak-{tier}",
                "tier": tier,
                "litellm_params": {"model": f"openai/soak-{tier}", "api_base": upstream, "api_key": "mock"},
                "price_eur_per_mtok": {"input": "0.40", "output": "2.00"},
                "max_output_tokens": 256,
                "impact": {"provider": "mistralai", "ecologits_provider": "mistralai",
                           "ecologits_model": "mistral-small-latest", "zone": "FRA"},
            }
            for tier in ("small", "medium", "large")
        ]
        (self.work / "catalogue.yaml").write_text(yaml.safe_dump({"version": "soak", "models": models}))
        policy = yaml.safe_load((ROOT / "policies" / "default_policy.yaml").read_text(encoding="utf-8"))
        policy["fallbacks"] = {"small": ["soak-small"], "medium": ["soak-medium"], "large": ["soak-large"]}
        (self.work / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False))
        port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SOBRIA_", "OTEL_")) and not k.endswith("_API_KEY")},
            "SOBRIA_DATA_DIR": str(self.work / "data"),
            "SOBRIA_CATALOGUE_PATH": str(self.work / "catalogue.yaml"),
            "SOBRIA_POLICY_PATH": str(self.work / "policy.yaml"),
            "SOBRIA_DATABASE_URL": self.database_dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            "SOBRIA_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SOBRIA_PSEUDONYM_KEY": "soak-pseudonym-key",
            "SOBRIA_PORT": str(port),
            "SOBRIA_LOG_LEVEL": "warning",
            "SOBRIA_BUDGETS__EMPLOYEE__EUR": "1000",
            "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000",
        }
        log = (self.work / "gateway.log").open("w")
        self.processes["gateway"] = subprocess.Popen(
            [str(SOBRIA), "serve", "--workers", str(self.config.workers)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
        )
        self.base_url = f"http://127.0.0.1:{port}"
        wait_up(f"{self.base_url}/healthz", self.processes["gateway"])
        for employee in EMPLOYEES:
            done = subprocess.run(
                [str(SOBRIA), "keys", "create", "--employee", employee, "--department", "finance"],
                env=self.env, capture_output=True, text=True, timeout=120, check=True,
            )
            key = done.stdout.strip().splitlines()[-1]
            self.keys[key.removeprefix("sk-sobria-")[:8]] = key

    def workers(self) -> list[psutil.Process]:
        """uvicorn's worker processes (spawned children running `spawn_main`)."""
        try:
            children = psutil.Process(self.processes["gateway"].pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                continue
        return found

    def stop(self) -> None:
        for name in ("gateway", "upstream", "redis"):
            stop(self.processes.get(name))
        if self.database_created:
            asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))


async def _one(client: httpx.AsyncClient, key: str, stream: bool, report: SoakReport,
               answered: list[str], latencies: list[float]) -> None:
    body = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "Traduis : bonjour à tous"}]}
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"}
    started = time.perf_counter()
    try:
        if stream:
            body["stream"] = True
            async with client.stream("POST", "/v1/chat/completions", headers=headers, json=body) as response:
                text = (await response.aread()).decode()
                if response.status_code != 200:
                    _error(report, _described(response.status_code, text))
                    return
                if "data: [DONE]" not in text:
                    _error(report, "stream without [DONE]")
                    return
                report.streamed += 1
        else:
            response = await client.post("/v1/chat/completions", headers=headers, json=body)
            if response.status_code != 200:
                _error(report, _described(response.status_code, response.text))
                return
    except httpx.HTTPError as exc:
        _error(report, type(exc).__name__)
        return
    latencies.append((time.perf_counter() - started) * 1000)
    answered.append(response.headers["X-Request-Id"])
    report.answered += 1


def _described(status: int, text: str) -> str:
    """`http 503 budget_unavailable`: the status and the OpenAI error code when there is one."""
    try:
        code = json.loads(text)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    return f"http {status} {code}" if code else f"http {status}"


def _error(report: SoakReport, kind: str) -> None:
    report.errors[kind] = report.errors.get(kind, 0) + 1


async def _drive(stack: Stack, config: SoakConfig, report: SoakReport) -> list[str]:
    """Send at a steady rate for the duration, sampling the workers' RSS meanwhile."""
    answered: list[str] = []
    latencies: list[float] = []
    keys = list(stack.keys.values())
    in_flight: set[asyncio.Task] = set()
    limits = httpx.Limits(max_connections=config.max_in_flight, max_keepalive_connections=64)
    started = time.monotonic()

    async def sample() -> None:
        while True:
            workers = stack.workers()
            rss = {p.pid: p.memory_info().rss for p in workers if p.is_running()}
            report.rss_samples.append({"t_s": round(time.monotonic() - started, 1), "rss_bytes": rss})
            await asyncio.sleep(config.sample_every_s)

    sampler = asyncio.create_task(sample())
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60, limits=limits) as client:
        total = int(config.duration_s * config.rate_rps)
        for i in range(total):
            delay = started + i / config.rate_rps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            report.sent += 1
            if len(in_flight) >= config.max_in_flight:
                _error(report, "sender saturated")
                continue
            stream = config.stream_every > 0 and i % config.stream_every == config.stream_every - 1
            task = asyncio.create_task(_one(client, keys[i % len(keys)], stream, report, answered, latencies))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)
    report.wall_s = time.monotonic() - started
    workers = stack.workers()
    report.rss_samples.append({
        "t_s": round(report.wall_s, 1),
        "rss_bytes": {p.pid: p.memory_info().rss for p in workers if p.is_running()},
    })
    sampler.cancel()
    if latencies:
        ordered = sorted(latencies)
        report.latency_p50_ms = ordered[len(ordered) // 2]
        report.latency_p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return answered


def _check_memory(report: SoakReport, config: SoakConfig) -> None:
    samples = [s for s in report.rss_samples if s["rss_bytes"]]
    if not samples:
        report.violations.append("memory: no worker process was found to sample")
        return
    pids = sorted({pid for s in samples for pid in s["rss_bytes"]})
    report.worker_pids = pids
    if len(pids) != config.workers:
        report.violations.append(f"memory: {len(pids)} worker pids seen for {config.workers} workers (a worker was replaced)")
    totals = [(s["t_s"], sum(s["rss_bytes"].values()) / 2**20) for s in samples]
    after_warmup = [mb for t, mb in totals if t >= config.effective_warmup_s] or [totals[-1][1]]
    report.rss_baseline_mb = after_warmup[0]
    report.rss_final_mb = statistics.median(after_warmup[-3:])
    report.rss_peak_mb = max(mb for _, mb in totals)
    report.rss_growth = report.rss_final_mb / report.rss_baseline_mb - 1
    if report.rss_growth > config.max_rss_growth:
        report.violations.append(
            f"memory: workers grew {report.rss_growth * 100:.1f} % after the warm-up "
            f"(limit {config.max_rss_growth * 100:.0f} %)"
        )


async def _ledger(stack: Stack, answered: list[str], sent: int, timeout_s: float = 30.0) -> tuple[list[str], dict[str, int]]:
    """The ledger's request ids and cost per key id, once the writers have caught up: every
    answered request is there and there is a row per request sent (refusals have rows too)."""
    deadline = time.monotonic() + timeout_s
    wanted = set(answered)
    while True:
        rows = await _postgres(
            "SELECT request_id, key_id, cost_micro_eur FROM usage_records", stack.database_dsn, fetch=True
        )
        ids = [row["request_id"] for row in rows]
        if (len(ids) >= sent and wanted <= set(ids)) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    costs: dict[str, int] = {}
    for row in rows:
        costs[row["key_id"]] = costs.get(row["key_id"], 0) + int(row["cost_micro_eur"])
    return ids, costs


async def _budgets(stack: Stack) -> dict[str, tuple[int, int]]:
    """Each key's employee EUR budget as the counters hold it: (spent, reserved)."""
    found = {}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        for key_id, key in stack.keys.items():
            response = await client.get("/v1/me/usage", headers={"Authorization": f"Bearer {key}"})
            response.raise_for_status()
            for budget in response.json()["budgets"]:
                if budget["scope"] == "employee" and budget["unit"] == "EUR":
                    found[key_id] = (_micro(budget["spent"]), _micro(budget["reserved"]))
    return found


def run_soak(config: SoakConfig, work: Path | None = None) -> SoakReport:
    """Start the stack, drive it, check the invariants, stop everything; returns the report."""
    own_work = work is None
    work = work or Path(tempfile.mkdtemp(prefix="sobria-soak-"))
    report = SoakReport(config={**asdict(config), "warmup_s": config.effective_warmup_s})
    stack = Stack(config, work)
    try:
        stack.start()
        answered = asyncio.run(_drive(stack, config, report))
        _check_memory(report, config)

        errors = sum(report.errors.values())
        if errors:
            report.violations.append(f"errors: {errors} of {report.sent} requests failed: {report.errors}")

        ids, costs = asyncio.run(_ledger(stack, answered, report.sent))
        report.ledger_rows = len(ids)
        report.ledger_micro_eur = costs
        missing = set(answered) - set(ids)
        report.answered_missing_from_ledger = len(missing)
        if missing:
            report.violations.append(f"ledger: {len(missing)} answered requests have no row")
        if report.ledger_rows != report.sent - report.errors.get("sender saturated", 0):
            report.violations.append(f"ledger: {report.ledger_rows} rows for {report.sent} requests sent")

        budgets = asyncio.run(_budgets(stack))
        for key_id in stack.keys:
            spent, reserved = budgets.get(key_id, (-1, -1))
            report.budget_spent_micro_eur[key_id] = spent
            report.budget_reserved_micro_eur[key_id] = reserved
            ledger = costs.get(key_id, 0)
            if spent != ledger:
                report.violations.append(f"budgets: {key_id} counters say {spent} µEUR, the ledger {ledger} µEUR")
            if reserved:
                report.violations.append(f"budgets: {key_id} still holds {reserved} µEUR of reservations")
    finally:
        stack.stop()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stream-every", type=int, default=2, help="every n-th request is streamed (0: none)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the RSS baseline")
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args(argv)
    config = SoakConfig(
        duration_s=args.duration, rate_rps=args.rate, workers=args.workers, stream_every=args.stream_every,
        sample_every_s=args.sample_every, warmup_s=args.warmup, max_rss_growth=args.max_rss_growth,
    )
    report = run_soak(config)
    print(report.summary())
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "ok": report.ok}, indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
