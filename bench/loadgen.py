"""An async load generator for OpenAI-compatible chat completion endpoints.

Keeps a fixed number of requests in flight until a fixed count is done, and reports
latency percentiles, throughput and, for streams, the time to the first content
chunk. Given a process id, it also reports that process's CPU time per request (user
+ system, children included) and its resident memory, read from /proc.

Run: python bench/loadgen.py URL --model auto --concurrency 16 --requests 500 [--stream] [--pid PID]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psutil


@dataclass
class CellResult:
    """One measured cell: a target, a mode and a concurrency."""

    concurrency: int
    requests: int
    stream: bool
    errors: int
    wall_s: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    cpu_ms_per_request: float | None
    rss_mb: float | None
    peak_rss_mb: float | None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class ProcessMeter:
    """CPU seconds and memory of a process tree (a server and its workers)."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)

    def _tree(self) -> list[psutil.Process]:
        return [self.process, *self.process.children(recursive=True)]

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_mb(self) -> float:
        return sum(p.memory_info().rss for p in self._tree()) / 2**20

    def peak_rss_mb(self) -> float:
        """Sum over the tree of each process's high-water mark (VmHWM)."""
        total = 0
        for proc in self._tree():
            with open(f"/proc/{proc.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        return total / 2**20


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
               stream: bool) -> tuple[float, float | None, bool]:
    started = time.perf_counter()
    first: float | None = None
    async with session.post(url, data=body, headers=headers) as response:
        if not stream:
            payload = await response.read()
            ok = response.status == 200 and b'"choices"' in payload
            return (time.perf_counter() - started) * 1000, None, ok
        ok = response.status == 200
        done = False
        async for line in response.content:
            if first is None and line.startswith(b"data:") and b'"content"' in line:
                first = (time.perf_counter() - started) * 1000
            if line.startswith(b"data: [DONE]"):
                done = True
        return (time.perf_counter() - started) * 1000, first, ok and done


async def run_cell(url: str, headers: dict[str, str], body: dict[str, Any], concurrency: int, requests: int,
                   stream: bool, pid: int | None = None, warmup: int = 20) -> CellResult:
    """Run `requests` calls with `concurrency` in flight; measure latency, TTFT and server CPU."""
    payload = dict(body, stream=stream)
    if stream:
        payload["stream_options"] = {"include_usage": True}
    data = json.dumps(payload).encode()
    send_headers = {"Content-Type": "application/json", **headers}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    meter = ProcessMeter(pid) if pid else None
    latencies: list[float] = []
    ttfts: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(_one(session, url, data, send_headers, stream) for _ in range(warmup)))
        remaining = requests
        cpu_before = meter.cpu_s() if meter else 0.0

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                try:
                    latency, first, ok = await _one(session, url, data, send_headers, stream)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                    continue
                if not ok:
                    errors += 1
                latencies.append(latency)
                if first is not None:
                    ttfts.append(first)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu_after = meter.cpu_s() if meter else 0.0
    return CellResult(
        concurrency=concurrency,
        requests=requests,
        stream=stream,
        errors=errors,
        wall_s=round(wall, 3),
        throughput_rps=round(requests / wall, 1),
        p50_ms=round(percentile(latencies, 50), 3),
        p95_ms=round(percentile(latencies, 95), 3),
        p99_ms=round(percentile(latencies, 99), 3),
        ttft_p50_ms=round(percentile(ttfts, 50), 3) if ttfts else None,
        ttft_p99_ms=round(percentile(ttfts, 99), 3) if ttfts else None,
        cpu_ms_per_request=round((cpu_after - cpu_before) * 1000 / requests, 3) if meter else None,
        rss_mb=round(meter.rss_mb(), 1) if meter else None,
        peak_rss_mb=round(meter.peak_rss_mb(), 1) if meter else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--key", default="")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    body = {"model": args.model, "messages": [{"role": "user", "content": "Traduis : le chat dort sur le tapis."}]}
    result = asyncio.run(run_cell(args.url, headers, body, args.concurrency, args.requests, args.stream, args.pid))
    print(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
