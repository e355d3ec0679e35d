"""The gateway's own measured energy per request (measured mode), as the README quotes it.

Starts `sobria serve` on its embedded catalogue (demo models: no provider is called, so
what is measured is the gateway alone) with `SOBRIA_MEASURED_MODE=true` and one window of
`--window-s` seconds, sends `--requests` chat completions within that window, waits for
the window to close and prints `GET /v1/impacts/gateway`'s figures: the window's energy,
its requests, Wh per request and the energy source (RAPL, NVML or a TDP estimate).

Run: python bench/measured_gateway.py [--requests 1500] [--window-s 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import free_port, stop, wait_up  # noqa: E402

SOBRIA = Path(sys.executable).with_name("sobria")


async def send(url: str, key: str, requests: int, concurrency: int) -> int:
    """Chat completions with `concurrency` in flight; the number answered 200."""
    body = {"model": "auto", "messages": [{"role": "user", "content": "Traduis en anglais : bonjour à tous"}]}
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"}
    queue = iter(range(requests))
    answered = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal answered
        for _ in queue:
            response = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            answered += response.status_code == 200

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--window-s", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
               "SOBRIA_DATA_DIR": str(Path(folder) / "data"), "SOBRIA_PORT": str(port),
               "SOBRIA_MEASURED_MODE": "true", "SOBRIA_MEASUREMENT_WINDOW_S": str(args.window_s),
               "SOBRIA_BUDGETS__EMPLOYEE__EUR": "1000000", "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000000"}
        log_path = Path(folder) / "gateway.log"
        with log_path.open("w") as log:
            server = subprocess.Popen([str(SOBRIA), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(f"{url}/healthz", server)
            match = re.search(r"sk-sobria-[A-Za-z0-9_-]+", log_path.read_text())
            if match is None:
                raise RuntimeError("no admin key in the gateway's log")
            admin = {"Authorization": f"Bearer {match.group(0)}"}
            created = httpx.post(f"{url}/admin/keys", headers=admin, timeout=30,
                                 json={"employee_id": "bench@example.org", "department": "bench"})
            key = created.json()["key"]
            started = time.monotonic()
            answered = asyncio.run(send(url, key, args.requests, args.concurrency))
            sent_s = time.monotonic() - started
            deadline = time.monotonic() + 3 * args.window_s + 30
            while True:
                report = httpx.get(f"{url}/v1/impacts/gateway", headers=admin, timeout=10).json()
                if report["totals"]["requests"] >= answered or time.monotonic() > deadline:
                    break
                time.sleep(1)
        finally:
            stop(server)
    windows = [w for w in report["windows"] if w["requests"]]
    energy = sum(w["energy_wh"] for w in windows)
    requests = sum(w["requests"] for w in windows)
    print(json.dumps({"answered": answered, "sent_in_s": round(sent_s, 1), "windows": len(windows),
                      "requests_measured": requests, "energy_wh": energy,
                      "wh_per_request": energy / requests if requests else None,
                      "energy_sources": sorted({str(w.get("energy_source")) for w in windows})}, indent=1))


if __name__ == "__main__":
    main()
