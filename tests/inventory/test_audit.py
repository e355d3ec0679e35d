"""The audit log is hash-chained: verification passes on an intact log and names the first tampered entry."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, update

from gateway.audit import AuditLog
from gateway.ledger.tables import AuditEntry


async def _three(audit: AuditLog) -> list[int]:
    return [await audit.record("alice", "use_case.transition", f"use_case:t{i}", {"status": "draft"},
                               {"status": "submitted"}) for i in range(3)]


async def test_an_untouched_chain_verifies(audit):
    await _three(audit)
    result = await audit.verify()
    assert result.ok and result.checked == 3 and result.first_broken_id is None


async def test_an_edited_row_is_detected_at_its_id(audit, engine):
    ids = await _three(audit)
    async with engine.begin() as conn:
        await conn.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(after='{"status":"approved"}'))
    result = await audit.verify()
    assert not result.ok and result.first_broken_id == ids[1] and result.reason == "content"


async def test_a_deleted_row_breaks_the_link_of_the_next_one(audit, engine):
    ids = await _three(audit)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEntry).where(AuditEntry.id == ids[1]))
    result = await audit.verify()
    assert not result.ok and result.first_broken_id == ids[2] and result.reason == "chain_link"


async def test_concurrent_appends_from_two_replicas_do_not_fork_the_chain(engine):
    replicas = [AuditLog(engine), AuditLog(engine)]
    await asyncio.gather(*(replicas[i % 2].record("bob", "key.create", f"key:{i}", None, {"i": i}) for i in range(16)))
    result = await replicas[0].verify()
    assert result.ok and result.checked == 16


async def test_string_states_are_kept_as_given(audit):
    await audit.record("carol", "policy.update", "policy", '{"version": "a"}', '{"version": "b"}')
    [entry] = await audit.entries()
    assert entry["before"] == '{"version": "a"}' and (await audit.verify()).ok
