"""Many long streams at once: one gateway worker holding N concurrent paced streams.

The paced upstream (`paced_wire.py`, raw asyncio like the client, so that the harness
costs less per chunk than the gateway it measures) sends one content chunk
every P ms for S seconds per stream, each chunk carrying the time it was sent. The
client opens N streams, their starts spread evenly over `--ramp-s`, and for every pair
of consecutive content chunks of a stream records how much longer the gap between them
was on arrival than at the mock (the inter-chunk delay added on the way). It does this
twice in the same run: straight to the mock (what the client and the mock add by
themselves, the baseline) and through one Sobria worker (lean relay, key auth, policy
and classifier, budgets in its own redis-server, impact estimation, ledger on a
PostgreSQL database created for the run). Sobria's added delay is the second minus the
first. The steady window is when all N streams are open (from the end of the ramp to
the end of the first stream); the whole run includes the ramp, the ends of the streams
and the ledger writes that follow them. Sobria's RSS is sampled every 0.5 s (and its
high-water mark read at the end), its CPU share over the run from /proc.

`--churn-s D` is the load of a working day rather than of a morning: each of the N slots
opens a stream as soon as its previous one ends, until D seconds have passed, with the
first starts spread over one stream's length, so that N streams stay open while N /
stream-s new ones start (and as many end) every second. Its steady window runs from the
end of that first stream length to D: the objects of starting streams, and the garbage
collections they cause, are inside it (without churn, no stream starts in the window).

The gateway is pinned to core 0; the client, the mock and Redis to core 1. The open
file limit is raised to the hard limit (each stream holds a socket in the client, two
in the gateway and one in the mock).

The gateway's CPU time over the steady window divided by the chunks it relayed in that
window is its CPU cost per chunk (`cpu_us_per_chunk_steady`). `--previous REF` runs the
same load through the gateway code of git revision REF (a temporary worktree) before
this code, in the same run, so that before and after share the machine's load.

Run: python bench/streams_scale.py [--streams 2000 --stream-s 30 --pace-ms 100 --ramp-s 10]
       [--churn-s 90] [--previous main]
Writes bench/results/streams-scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paced_wire  # noqa: E402
from loadgen import percentile  # noqa: E402
from run import SOBRIA, pg, sobria_files  # noqa: E402
from servers import free_port, stop, wait_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def write_cost_us(samples: int = 20000, size: int = 250) -> dict[str, float]:
    """Mean cost to the writer of one small loopback write, back to back, in µs: to a reader
    in the same process (drained every 50 writes: nothing to wake) and to a reader in another
    process on the other core (each write hands it data, as each relayed chunk hands the
    client one). On a virtual machine signalling another core can cost several times the
    write itself; this says how much of the gateway's system time per chunk is the machine's."""
    listener = socket.create_server(("127.0.0.1", 0))
    child = os.fork()
    if child == 0:
        os.sched_setaffinity(0, {1})
        peer, _ = listener.accept()
        while peer.recv(1 << 16):
            pass
        os._exit(0)
    os.sched_setaffinity(0, {0})
    message = b"x" * size
    costs: dict[str, float] = {}
    try:
        with socket.create_connection(listener.getsockname()) as far:
            costs["to_other_core"] = _mean_write(far, message, samples, None)
        with socket.create_connection(listener.getsockname()) as near:
            local, _ = listener.accept()
            with local:
                costs["same_process"] = _mean_write(near, message, samples, local)
    finally:
        listener.close()
        os.waitpid(child, 0)
    return costs


def _mean_write(sock: socket.socket, message: bytes, samples: int, drain: socket.socket | None) -> float:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    spent = 0.0
    for i in range(samples):
        began = time.perf_counter()
        sock.send(message)
        spent += time.perf_counter() - began
        if drain is not None and i % 50 == 49:
            while len(drain.recv(1 << 20)) == 1 << 20:
                pass
    return round(spent / samples * 1e6, 2)


def raise_open_files() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by the processes started here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard


class Stream:
    """What one stream saw: per content chunk, the mock's send time and the arrival time."""

    __slots__ = ("sent", "received", "ok", "error")

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.received: list[float] = []
        self.ok = False
        self.error: str | None = None


async def one_stream(url: str, headers: dict[str, str], body: bytes, delay_s: float, timeout_s: float,
                     open_now: list[int]) -> Stream:
    await asyncio.sleep(delay_s)
    seen = Stream()
    open_now[0] += 1
    open_now[1] = max(open_now[1], open_now[0])
    address = urlsplit(url)
    try:
        seen.sent, seen.received, seen.ok, status = await paced_wire.stream(
            address.hostname or "127.0.0.1", address.port or 80, address.path, headers, body, timeout_s)
        if " 200" not in status:
            seen.ok, seen.error = False, status or "no status"
    except (OSError, TimeoutError, ValueError) as exc:
        seen.error = type(exc).__name__
    finally:
        open_now[0] -= 1
    return seen


async def one_slot(url: str, headers: dict[str, str], body: bytes, delay_s: float, until: float,
                   timeout_s: float, open_now: list[int]) -> list[Stream]:
    """Streams back to back in one slot, the first after `delay_s`, until the time `until`."""
    streams = [await one_stream(url, headers, body, delay_s, timeout_s, open_now)]
    while time.time() < until:
        streams.append(await one_stream(url, headers, body, 0.0, timeout_s, open_now))
    return streams


def added_delays(streams: list[Stream], window: tuple[float, float] | None) -> list[float]:
    """Per pair of consecutive chunks: arrival gap minus send gap, in ms (in `window` if given)."""
    out: list[float] = []
    for seen in streams:
        sent, received = seen.sent, seen.received
        for i in range(1, len(sent)):
            if window is not None and not window[0] <= sent[i] <= window[1]:
                continue
            out.append(((received[i] - received[i - 1]) - (sent[i] - sent[i - 1])) * 1000)
    return out


def transit(streams: list[Stream], window: tuple[float, float] | None) -> list[float]:
    """Per chunk: arrival minus send time, in ms."""
    return [(r - s) * 1000 for seen in streams for s, r in zip(seen.sent, seen.received, strict=True)
            if window is None or window[0] <= s <= window[1]]


def peak_flowing(streams: list[Stream]) -> int:
    """Most streams receiving chunks at the same moment (from the first to the last chunk sent)."""
    edges = sorted([(s.sent[0], 1) for s in streams if s.sent] + [(s.sent[-1], -1) for s in streams if s.sent])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def timeline(streams: list[Stream], began: float) -> list[dict[str, float | int]]:
    """Per second of the run (by the mock's send time): chunks, added-delay p99, and how many
    chunks were delayed over 5 ms; where in the run (ramp, steady, ends) the tail comes from."""
    seconds: dict[int, list[float]] = {}
    for seen in streams:
        sent, received = seen.sent, seen.received
        for i in range(1, len(sent)):
            added = ((received[i] - received[i - 1]) - (sent[i] - sent[i - 1])) * 1000
            seconds.setdefault(int(sent[i] - began), []).append(added)
    return [{"s": second, "chunks": len(values), "p99_ms": round(percentile(values, 99), 2),
             "over_5_ms": sum(1 for v in values if v > 5.0)} for second, values in sorted(seconds.items())]


def summary(values: list[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 3), "p99_ms": round(percentile(values, 99), 3),
            "p999_ms": round(percentile(values, 99.9), 3), "max_ms": round(max(values), 3) if values else 0.0}


class Sampler(threading.Thread):
    """RSS of a process every 0.5 s while a run lasts."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                self.samples.append(self.process.memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                return


async def drive(url: str, headers: dict[str, str], model: str, args: argparse.Namespace,
                pid: int | None = None) -> dict[str, Any]:
    """Run the streams against `url`; with `pid`, also that process's CPU per chunk in the steady window."""
    body = json.dumps({"model": model, "stream": True, "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "Résume ce paragraphe en trois phrases."}]}).encode()
    open_now = [0, 0]
    cpu: list[tuple[float, float]] = []
    began = time.time()
    timeout_s = args.stream_s * 4 + args.ramp_s + 60
    churn = args.churn_s > 0
    ramp_s = args.stream_s if churn else args.ramp_s
    window = (began + ramp_s + 1.0, began + (args.churn_s if churn else args.stream_s))
    if pid is not None:
        window_cpu = [threading.Timer(window[0] - time.time(), lambda: cpu.append(cpu_split(pid))),
                      threading.Timer(window[1] - time.time(), lambda: cpu.append(cpu_split(pid)))]
        for timer in window_cpu:
            timer.start()
    if churn:
        slots = await asyncio.gather(*(
            one_slot(url, headers, body, ramp_s * i / args.streams, began + args.churn_s, timeout_s, open_now)
            for i in range(args.streams)))
        streams = [seen for slot in slots for seen in slot]
    else:
        streams = await asyncio.gather(*(
            one_stream(url, headers, body, ramp_s * i / args.streams, timeout_s, open_now)
            for i in range(args.streams)))
    wall = time.time() - began
    errors: dict[str, int] = {}
    for seen in streams:
        if not seen.ok:
            errors[seen.error or "no [DONE]"] = errors.get(seen.error or "no [DONE]", 0) + 1
    steady_chunks = sum(1 for seen in streams for sent in seen.sent if window[0] <= sent <= window[1])
    out: dict[str, Any] = {
        "streams": len(streams), "completed": sum(1 for s in streams if s.ok), "errors": errors,
        "peak_open_requests": open_now[1], "peak_flowing_streams": peak_flowing(streams), "wall_s": round(wall, 1),
        "chunks": sum(len(s.sent) for s in streams),
        "steady_window_s": round(window[1] - window[0], 1),
        "added_inter_chunk_steady": summary(added_delays(streams, window)),
        "added_inter_chunk_whole_run": summary(added_delays(streams, None)),
        "transit_steady": summary(transit(streams, window)),
        "transit_whole_run": summary(transit(streams, None)),
        "timeline": timeline(streams, began),
    }
    if len(cpu) == 2 and steady_chunks:
        out["steady_chunks"] = steady_chunks
        user, system = cpu[1][0] - cpu[0][0], cpu[1][1] - cpu[0][1]
        out["cpu_share_of_core_steady"] = round((user + system) / (window[1] - window[0]), 3)
        out["cpu_us_per_chunk_steady"] = round((user + system) / steady_chunks * 1e6, 1)
        out["cpu_user_us_per_chunk_steady"] = round(user / steady_chunks * 1e6, 1)
        out["cpu_system_us_per_chunk_steady"] = round(system / steady_chunks * 1e6, 1)
    return out


def run_loop(coroutine: Any) -> Any:
    """The client on uvloop when it is installed (as the gateway runs)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def start_sobria(work: Path, upstream: str, redis_url: str, database: str,
                 code: Path | None = None) -> tuple[subprocess.Popen, str, dict]:
    """A gateway worker on core 0; `code`: a checkout whose `gateway` package it runs instead of this one."""
    sobria_files(work, upstream)
    catalogue = yaml.safe_load((work / "catalogue.yaml").read_text())
    for model in catalogue["models"]:
        model["max_output_tokens"] = 4096
    (work / "catalogue.yaml").write_text(yaml.safe_dump(catalogue))
    pg(f'CREATE DATABASE "{database}"')
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SOBRIA_", "OTEL_")) and not k.endswith("_API_KEY")},
        "SOBRIA_DATA_DIR": str(work / "data"),
        "SOBRIA_CATALOGUE_PATH": str(work / "catalogue.yaml"),
        "SOBRIA_POLICY_PATH": str(work / "policy.yaml"),
        "SOBRIA_CONFIG": str(work / "sobria.yaml"),
        "SOBRIA_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "SOBRIA_REDIS_URL": redis_url,
        "SOBRIA_PSEUDONYM_KEY": "bench-pseudonym-key",
        "SOBRIA_PORT": str(port),
        "SOBRIA_UPSTREAM_RELAY": "on",
    }
    if code is not None:
        env["PYTHONPATH"] = str(code)
    created = subprocess.run([str(SOBRIA), "keys", "create", "--employee", "bench", "--department", "finance"],
                             env=env, capture_output=True, text=True, timeout=120, check=True, cwd=code)
    key = created.stdout.strip().splitlines()[-1]
    log = (work / "gateway.log").open("w")
    process = subprocess.Popen(["taskset", "-c", "0", str(SOBRIA), "serve"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=code)
    wait_up(f"http://127.0.0.1:{port}/healthz", process)
    return process, f"http://127.0.0.1:{port}/v1/chat/completions", {"Authorization": f"Bearer {key}"}


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process: the interpreter's work, and the kernel's on its behalf."""
    times = psutil.Process(pid).cpu_times()
    return times.user, times.system


def cpu_s(pid: int) -> float:
    return sum(cpu_split(pid))


def high_water_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_sobria(args: argparse.Namespace, upstream: str, redis_url: str, code: Path | None,
                   log_to: Path) -> dict[str, Any]:
    """One gateway worker (this code, or the checkout `code`) under the load; its figures."""
    work = Path(tempfile.mkdtemp(prefix="sobria-streams-"))
    database = f"sobria_bench_streams_{uuid.uuid4().hex[:8]}"
    sobria: subprocess.Popen | None = None
    try:
        sobria, url, headers = start_sobria(work, upstream, redis_url, database, code)
        sampler = Sampler(sobria.pid)
        rss_idle = psutil.Process(sobria.pid).memory_info().rss / 2**20
        cpu_before, began = cpu_s(sobria.pid), time.monotonic()
        load_before = os.getloadavg()
        sampler.start()
        result = run_loop(drive(url, headers, "auto", args, sobria.pid))
        sampler.done.set()
        result["cpu_share_of_core"] = round((cpu_s(sobria.pid) - cpu_before) / (time.monotonic() - began), 3)
        result["rss_idle_mb"] = round(rss_idle, 1)
        result["rss_peak_sampled_mb"] = round(max(sampler.samples, default=0.0), 1)
        result["rss_high_water_mb"] = round(high_water_mb(sobria.pid), 1)
        result["load_avg_before"] = load_before
        result["load_avg_after"] = os.getloadavg()
        return result
    finally:
        stop(sobria)
        pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if (work / "gateway.log").exists():
            shutil.copy(work / "gateway.log", log_to)
        shutil.rmtree(work, ignore_errors=True)


def checkout(revision: str) -> Path:
    """A temporary detached worktree of `revision` (removed by `drop_checkout`)."""
    where = Path(tempfile.mkdtemp(prefix="sobria-streams-previous-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), revision],
                   check=True, capture_output=True)
    return where


def drop_checkout(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True)


def added_by(result: dict[str, Any], direct: dict[str, Any]) -> dict[str, float]:
    """Sobria's added inter-chunk delay: its figures minus those straight to the mock."""
    return {f"{scope} {q}": round(result[f"added_inter_chunk_{scope}"][q] - direct[f"added_inter_chunk_{scope}"][q], 3)
            for scope in ("steady", "whole_run") for q in ("p50_ms", "p99_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--stream-s", type=float, default=30.0)
    parser.add_argument("--pace-ms", type=float, default=100.0)
    parser.add_argument("--ramp-s", type=float, default=10.0)
    parser.add_argument("--churn-s", type=float, default=0.0,
                        help="keep the streams open with churn until this many seconds (0: one stream per slot)")
    parser.add_argument("--skip-direct", action="store_true")
    parser.add_argument("--previous", default=None, help="also run the gateway of this git revision, first")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "streams-scale.json"))
    args = parser.parse_args()
    limits = raise_open_files()
    write_costs = write_cost_us()
    os.sched_setaffinity(0, {1})
    mock_port, redis_port = free_port(), free_port()
    mock = subprocess.Popen([sys.executable, str(ROOT / "bench" / "paced_wire.py"), "--port", str(mock_port),
                             "--pace-ms", str(args.pace_ms), "--stream-s", str(args.stream_s)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                           "open_files_limit": {"was": limits[0], "raised_to": limits[1]},
                           "loopback_write_cost_us": write_costs,
                           "load": {"streams": args.streams, "stream_s": args.stream_s, "pace_ms": args.pace_ms,
                                    "ramp_s": args.ramp_s, "churn_s": args.churn_s,
                                    "chunks_per_s": round(args.streams * 1000 / args.pace_ms)}}
    previous = checkout(args.previous) if args.previous else None
    log_to = Path(args.out).with_suffix(".gateway.log")
    try:
        upstream = f"http://127.0.0.1:{mock_port}/v1"
        time.sleep(1.0)
        if not args.skip_direct:
            out["load_avg_before_direct"] = os.getloadavg()
            out["direct"] = run_loop(drive(f"{upstream}/chat/completions", {}, "bench-small", args))
            print("direct", json.dumps(out["direct"]), flush=True)
        if previous is not None:
            out["previous_revision"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.previous],
                                                      capture_output=True, text=True, check=True).stdout.strip()
            out["previous"] = measure_sobria(args, upstream, f"redis://127.0.0.1:{redis_port}/1", previous,
                                             log_to.with_suffix(".previous.log"))
            print("previous", json.dumps(out["previous"]), flush=True)
        out["load_avg_before_sobria"] = os.getloadavg()
        out["sobria"] = measure_sobria(args, upstream, f"redis://127.0.0.1:{redis_port}/0", None, log_to)
        out["load_avg_after"] = os.getloadavg()
        print("sobria", json.dumps(out["sobria"]), flush=True)
        if "direct" in out:
            out["added_by_sobria"] = added_by(out["sobria"], out["direct"])
            if "previous" in out:
                out["added_by_previous"] = added_by(out["previous"], out["direct"])
    finally:
        stop(mock)
        stop(redis)
        if previous is not None:
            drop_checkout(previous)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
