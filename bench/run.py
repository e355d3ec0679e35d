"""One benchmark run on loopback: the mock direct, Sobria (lean relay and litellm path), LiteLLM Proxy.

Every target gets the same load: concurrency 1, 16 and 64, plain and streamed
(64 output tokens, so 64 content chunks), a fixed request count per cell. The server
under test is pinned to core 0 (taskset); this script, the load generator, the mock
upstream and Sobria's own Redis are pinned to core 1. Sobria runs with every
governance feature on: key authentication, policy with the prompt classifier
(`model: auto`, no use-case header), budgets for employee, department and use case in
Redis, impact estimation, and the ledger on PostgreSQL (a database created for the
run and dropped after it). LiteLLM Proxy runs from its own venv as a plain proxy with
a master key (its database features need Prisma binaries, not available offline).

Run: python bench/run.py [--litellm /tmp/litellm-proxy-venv/bin/litellm] [--quick]
Writes bench/results/latest.json and bench/results/latest.md. With `--workers 2`, Sobria
runs `sobria serve --workers 2` on both cores (the load generator then shares one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import ProcessMeter, run_cell  # noqa: E402
from report import markdown  # noqa: E402
from servers import free_port, stop, wait_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SOBRIA = Path(sys.executable).with_name("sobria")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
OUTPUT_TOKENS = 64
CELLS = [(1, 200), (16, 500), (64, 1000)]
QUICK_CELLS = [(1, 50), (16, 100), (64, 200)]
PROMPT = "Traduis en anglais : le chat dort sur le tapis du salon."


def pg(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def sobria_files(work: Path, upstream: str) -> None:
    model = {
        "tier": "small",
        "price_eur_per_mtok": {"input": "0.10", "output": "0.30"},
        "max_output_tokens": 256,
        "impact": {"provider": "mistralai", "ecologits_provider": "mistralai",
                   "ecologits_model": "mistral-small-latest", "zone": "FRA"},
    }
    models = []
    for tier in ("small", "medium", "large"):
        models.append({**model, "name": f"bench-{tier}", "tier": tier,
                       "litellm_params": {"model": f"openai/bench-{tier}", "api_base": upstream, "api_key": "mock"}})
    (work / "catalogue.yaml").write_text(yaml.safe_dump({"version": "bench", "models": models}))
    policy = yaml.safe_load((ROOT / "policies" / "default_policy.yaml").read_text(encoding="utf-8"))
    policy["fallbacks"] = {"small": ["bench-small"], "medium": ["bench-medium"], "large": ["bench-large"]}
    (work / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False))
    config = {"budgets": {"employee": {"eur": "1000", "gco2e_g": "1000000"},
                          "department": {"eur": "100000", "gco2e_g": "100000000"},
                          "use_case": {"eur": "100000", "gco2e_g": "100000000"}}}
    (work / "sobria.yaml").write_text(yaml.safe_dump(config))


class Target(ABC):
    """A server under test: how to start it, where to send requests, what to stop."""

    name = ""
    note = ""
    model = ""

    @abstractmethod
    def start(self) -> tuple[str, dict[str, str], int | None]:
        """Start the target; return (base URL, headers, pid of the measured process)."""

    def stop(self) -> None:  # noqa: B027 - a target with nothing to stop keeps this default
        pass


class Direct(Target):
    name, note, model = "direct", "the mock upstream itself (no gateway)", "bench-small"

    def __init__(self, upstream: str):
        self.upstream = upstream

    def start(self) -> tuple[str, dict[str, str], int | None]:
        return f"{self.upstream}/chat/completions", {}, None


class Sobria(Target):
    model = "auto"

    def __init__(self, work: Path, upstream: str, redis_url: str, relay: bool, workers: int = 1):
        self.name = "sobria" if relay else "sobria-litellm-path"
        if workers > 1:
            self.name += f"-{workers}-workers"
        self.workers = workers
        self.note = ("lean relay path; auth, policy + classifier, budgets in Redis, estimation, ledger on PostgreSQL"
                     if relay else "same, with every deployment through litellm's Router (SOBRIA_UPSTREAM_RELAY=off)")
        self.work, self.upstream, self.redis_url, self.relay = work / self.name, upstream, redis_url, relay
        self.database = f"sobria_bench_{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None

    def start(self) -> tuple[str, dict[str, str], int | None]:
        self.work.mkdir(parents=True, exist_ok=True)
        sobria_files(self.work, self.upstream)
        pg(f'CREATE DATABASE "{self.database}"')
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SOBRIA_", "OTEL_")) and not k.endswith("_API_KEY")},
            "SOBRIA_DATA_DIR": str(self.work / "data"),
            "SOBRIA_CATALOGUE_PATH": str(self.work / "catalogue.yaml"),
            "SOBRIA_POLICY_PATH": str(self.work / "policy.yaml"),
            "SOBRIA_CONFIG": str(self.work / "sobria.yaml"),
            "SOBRIA_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}",
            "SOBRIA_REDIS_URL": self.redis_url,
            "SOBRIA_PSEUDONYM_KEY": "bench-pseudonym-key",
            "SOBRIA_PORT": str(port),
            "SOBRIA_UPSTREAM_RELAY": "on" if self.relay else "off",
        }
        created = subprocess.run([str(SOBRIA), "keys", "create", "--employee", "bench", "--department", "finance"],
                                 env=env, capture_output=True, text=True, timeout=120, check=True)
        key = created.stdout.strip().splitlines()[-1]
        log = (self.work / "gateway.log").open("w")
        cores = "0" if self.workers == 1 else "0,1"
        self.process = subprocess.Popen(["taskset", "-c", cores, str(SOBRIA), "serve", "--workers", str(self.workers)],
                                        env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
        wait_up(f"http://127.0.0.1:{port}/healthz", self.process)
        return f"http://127.0.0.1:{port}/v1/chat/completions", {"Authorization": f"Bearer {key}"}, self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        pg(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class LiteLLMProxy(Target):
    name, model = "litellm-proxy", "bench-small"

    def __init__(self, work: Path, upstream: str, executable: str):
        self.work, self.upstream, self.executable = work / "litellm", upstream, executable
        self.process: subprocess.Popen | None = None
        self.note = "LiteLLM Proxy, one worker, plain proxy with a master key (no database: Prisma needs a download)"

    def version(self) -> str:
        python = Path(self.executable).with_name("python")
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                              capture_output=True, text=True)
        return done.stdout.strip()

    def start(self) -> tuple[str, dict[str, str], int | None]:
        self.work.mkdir(parents=True, exist_ok=True)
        config = {
            "model_list": [{"model_name": "bench-small",
                            "litellm_params": {"model": "openai/bench-small", "api_base": self.upstream,
                                               "api_key": "mock"}}],
            "general_settings": {"master_key": "sk-bench-master"},
        }
        (self.work / "config.yaml").write_text(yaml.safe_dump(config))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OTEL_"))}
        log = (self.work / "proxy.log").open("w")
        self.process = subprocess.Popen(
            ["taskset", "-c", "0", self.executable, "--config", str(self.work / "config.yaml"), "--port", str(port),
             "--num_workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
        )
        wait_up(f"http://127.0.0.1:{port}/health/liveliness", self.process, timeout_s=180)
        headers = {"Authorization": "Bearer sk-bench-master"}
        return f"http://127.0.0.1:{port}/v1/chat/completions", headers, self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def measure(target: Target, cells: list[tuple[int, int]]) -> dict[str, Any]:
    url, headers, pid = target.start()
    try:
        meter = ProcessMeter(pid) if pid else None
        started_rss = round(meter.rss_mb(), 1) if meter else None
        body = {"model": target.model, "messages": [{"role": "user", "content": PROMPT}]}
        results = []
        for stream in (False, True):
            for concurrency, count in cells:
                cell = asyncio.run(run_cell(url, headers, body, concurrency, count, stream, pid))
                print(f"  {target.name:<22} stream={stream!s:<5} c={concurrency:<3} "
                      f"p50={cell.p50_ms:.2f}ms p99={cell.p99_ms:.2f}ms {cell.throughput_rps:.0f} rps "
                      f"cpu={cell.cpu_ms_per_request} ms/req errors={cell.errors}", flush=True)
                results.append(asdict(cell))
        peak = round(meter.peak_rss_mb(), 1) if meter else None
        return {"name": target.name, "note": target.note, "rss_after_start_mb": started_rss,
                "peak_rss_mb": peak, "cells": results}
    finally:
        target.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--litellm", default="/tmp/litellm-proxy-venv/bin/litellm")
    parser.add_argument("--quick", action="store_true", help="fewer requests per cell (a smoke run)")
    parser.add_argument("--only", nargs="*", help="target names to run (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="Sobria worker processes (more than one: cores 0-1)")
    parser.add_argument("--out", default=str(RESULTS / "latest"))
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    cells = QUICK_CELLS if args.quick else CELLS
    work = Path(tempfile.mkdtemp(prefix="sobria-bench-"))
    mock_port, redis_port = free_port(), free_port()
    mock = subprocess.Popen([sys.executable, str(ROOT / "bench" / "mock_upstream.py"), "--port", str(mock_port),
                             "--output-tokens", str(OUTPUT_TOKENS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = f"http://127.0.0.1:{mock_port}/v1"
    targets: list[Target] = [Direct(upstream),
                             Sobria(work, upstream, f"redis://127.0.0.1:{redis_port}/0", True, args.workers),
                             Sobria(work, upstream, f"redis://127.0.0.1:{redis_port}/0", False, args.workers)]
    litellm_note = None
    if Path(args.litellm).exists():
        targets.append(LiteLLMProxy(work, upstream, args.litellm))
    else:
        litellm_note = f"LiteLLM Proxy not found at {args.litellm}: install it with pip install 'litellm[proxy]'"
    if args.only:
        targets = [t for t in targets if t.name in args.only or t.name == "direct"]
    try:
        wait_up(f"http://127.0.0.1:{mock_port}/stats", mock)
        run: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                        "cpu_model": _cpu_model()},
            "load": {"output_tokens": OUTPUT_TOKENS, "cells": cells, "gateway_core": 0 if args.workers == 1 else "0,1",
                     "load_core": 1, "workers": args.workers},
            "litellm_version": next((t.version() for t in targets if isinstance(t, LiteLLMProxy)), None),
            "litellm_note": litellm_note,
            "targets": [],
        }
        for target in targets:
            print(f"{target.name}: {target.note}", flush=True)
            run["targets"].append(measure(target, cells))
    finally:
        stop(mock)
        stop(redis)
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(run, indent=2))
    out.with_suffix(".md").write_text(markdown(run))
    print(out.with_suffix(".md").read_text())


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    match = re.search(r"model name\s*:\s*(.+)", text)
    return match.group(1).strip() if match else platform.processor()


if __name__ == "__main__":
    main()
