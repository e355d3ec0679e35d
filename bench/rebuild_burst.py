"""The budget rebuild right after Redis `FLUSHALL`, timed alone on a generated ledger.

64 concurrent requests of 64 employees of one department, each reserving on its
employee, department and organisation budgets (EUR and gCO2e), on a private
redis-server just flushed: the slowest request and the failures (ledger_scale.py's
`rebuild_burst`). The ledger is the one `python bench/ledger_scale.py --rows N
--generate-only` leaves in PostgreSQL (`sobria_bench_scale_<N>`).

`--previous REV` times the same burst through revision REV's budget store (a temporary
git worktree, run with its own code), alternating one burst of each so that both meet
the same page cache; the first burst of a run meets whatever cache the machine has.

    python bench/rebuild_burst.py --rows 10000000 --runs 3 --previous 1567a0b

Writes bench/results/rebuild-burst-<rows>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def one_burst(rows: int) -> dict[str, Any]:
    """One burst with the code of the tree whose `bench/` is first on sys.path."""
    import ledger_scale  # the bench of the tree under test, which imports that tree's gateway

    from gateway.budgets.ledger_source import LedgerRebuildSource
    from gateway.ledger import db

    engine = db.make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/sobria_bench_scale_{rows}")
    try:
        staff = [f"p{n:06d}" for n in range(7, ledger_scale.EMPLOYEES, ledger_scale.DEPARTMENTS)][:64]
        result = await ledger_scale.rebuild_burst(engine, LedgerRebuildSource(engine), staff, "dept-07")
    finally:
        await engine.dispose()
    return {**result, "load_avg_1m": os.getloadavg()[0]}


def burst_with(tree: Path, rows: int) -> dict[str, Any]:
    """One burst in a fresh process running `tree`'s code."""
    done = subprocess.run(
        [sys.executable, __file__, "--inner", "--tree", str(tree), "--rows", str(rows)],
        capture_output=True, text=True, timeout=600, check=True, cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--previous", default=None, help="also time this git revision's budget store")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        sys.path.insert(0, str(Path(args.tree) / "bench"))
        print(json.dumps(asyncio.run(one_burst(args.rows))))
        return
    previous: Path | None = None
    if args.previous:
        previous = Path(tempfile.mkdtemp(prefix="sobria-burst-previous-"))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(previous), args.previous],
                       check=True, capture_output=True)
    out: dict[str, Any] = {"rows": args.rows, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                           "previous_revision": args.previous, "this code": [], "previous": []}
    try:
        for run in range(args.runs):
            out["this code"].append(burst_with(ROOT, args.rows))
            print("this code", run, out["this code"][-1], flush=True)
            if previous is not None:
                out["previous"].append(burst_with(previous, args.rows))
                print("previous", run, out["previous"][-1], flush=True)
    finally:
        if previous is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(previous)],
                           capture_output=True)
    target = ROOT / "bench" / "results" / f"rebuild-burst-{args.rows}.json"
    target.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
