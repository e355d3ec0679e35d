"""Audit chain: cost of verifying N entries with HMAC and a checkpoint, against the unkeyed SHA-256 walk.

Usage: python bench/audit_bench.py [entries]. Writes N entries to a fresh SQLite file,
then times `AuditLog.verify([checkpoint])` and, as the baseline in the same run, the
same walk recomputing plain SHA-256 digests (what the chain used to be).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from gateway.ledger.audit import GENESIS, AuditLog, _iso
from gateway.ledger import db
from gateway.ledger.tables import AuditEntry


async def main(entries: int) -> None:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'audit.db'}"
    await db.upgrade(url)
    engine = db.make_engine(url)
    audit = AuditLog(engine, b"bench-key")
    async with engine.begin() as conn:
        for i in range(entries):
            await audit.append(conn, "bench", "key.create", f"key:{i}", None, {"i": i})
    point = await audit.checkpoint()

    started = time.perf_counter()
    result = await audit.verify([point])
    keyed_s = time.perf_counter() - started
    assert result.ok and result.checked == entries

    started = time.perf_counter()
    async with engine.connect() as conn:
        prev = GENESIS
        for row in (await conn.execute(select(AuditEntry).order_by(AuditEntry.id))).all():
            payload = json.dumps([prev, _iso(row.at), row.actor, row.action, row.target, row.before, row.after],
                                 ensure_ascii=False)
            prev = hashlib.sha256(payload.encode()).hexdigest()
    plain_s = time.perf_counter() - started
    await engine.dispose()
    print(json.dumps({"entries": entries, "hmac_with_checkpoint_s": round(keyed_s, 3),
                      "plain_sha256_walk_s": round(plain_s, 3), "ratio": round(keyed_s / plain_s, 2)}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
