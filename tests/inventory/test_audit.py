"""The audit log is an HMAC chain anchored by signed checkpoints: each kind of tampering is detected.

The attacker of these tests can write to the database but does not hold the audit key
(unless said otherwise): they edit, delete, truncate and rewrite-and-re-chain rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace

from sqlalchemy import delete, select, update

from gateway.ledger.audit import GENESIS, AuditLog, _iso, entry_hash, read_checkpoints
from gateway.ledger.tables import AuditEntry


async def _three(audit: AuditLog) -> list[int]:
    return [await audit.record("alice", "use_case.transition", f"use_case:t{i}", {"status": "draft"},
                               {"status": "submitted"}) for i in range(3)]


async def _six_with_a_pseudonym_link(audit: AuditLog) -> list[int]:
    ids = await _three(audit)
    ids.append(await audit.record("dpo", "pseudonym.link", "employee:3f9a", None, {"employee_id": "e-1024"}))
    ids += [await audit.record("bob", "key.create", f"key:k{i}", None, {"i": i}) for i in range(2)]
    return ids


async def _rechain_with_sha256(engine, from_id: int) -> None:
    """What the old unkeyed chain allowed: recompute every hash after an edit, with plain SHA-256."""
    async with engine.begin() as conn:
        rows = (await conn.execute(select(AuditEntry).order_by(AuditEntry.id))).all()
        prev = GENESIS
        for row in rows:
            if row.id >= from_id:
                payload = json.dumps([prev, _iso(row.at), row.actor, row.action, row.target, row.before, row.after],
                                     ensure_ascii=False)
                digest = hashlib.sha256(payload.encode()).hexdigest()
                await conn.execute(update(AuditEntry).where(AuditEntry.id == row.id).values(prev_hash=prev, hash=digest))
                prev = digest
            else:
                prev = row.hash


async def _rechain_with_key(engine, key: bytes) -> None:
    """An insider holding the key rewrites the whole chain consistently."""
    async with engine.begin() as conn:
        rows = (await conn.execute(select(AuditEntry).order_by(AuditEntry.id))).all()
        prev = GENESIS
        for row in rows:
            digest = entry_hash(key, prev, row.at, row.actor, row.action, row.target, row.before, row.after)
            await conn.execute(update(AuditEntry).where(AuditEntry.id == row.id).values(prev_hash=prev, hash=digest))
            prev = digest


async def test_an_untouched_chain_verifies_with_and_without_its_checkpoint(audit):
    await _three(audit)
    point = await audit.checkpoint()
    assert (await audit.verify()).ok
    result = await audit.verify([point])
    assert result.ok and result.checked == 3 and result.first_broken_id is None
    assert point.count == 3


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


async def test_deleting_the_last_three_rows_is_detected_by_the_checkpoint(audit, engine):
    ids = await _six_with_a_pseudonym_link(audit)
    point = await audit.checkpoint()
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids[-3:])))
    assert (await audit.verify()).ok  # the chain alone cannot see a missing tail
    result = await audit.verify([point])
    assert not result.ok and result.reason == "truncated" and result.first_broken_id == ids[-1]


async def test_deleting_every_row_is_detected_by_the_checkpoint(audit, engine):
    await _three(audit)
    point = await audit.checkpoint()
    async with engine.begin() as conn:
        await conn.execute(delete(AuditEntry))
    result = await audit.verify([point])
    assert not result.ok and result.reason == "truncated"


async def test_rewriting_a_pseudonym_link_and_rechaining_with_sha256_is_detected(audit, engine):
    ids = await _six_with_a_pseudonym_link(audit)
    link = ids[3]
    async with engine.begin() as conn:
        await conn.execute(update(AuditEntry).where(AuditEntry.id == link).values(actor="nobody"))
    await _rechain_with_sha256(engine, link)
    result = await audit.verify()
    assert not result.ok and result.first_broken_id == link and result.reason == "content"


async def test_an_insider_rechaining_with_the_key_is_caught_by_an_earlier_checkpoint(audit, engine):
    ids = await _six_with_a_pseudonym_link(audit)
    point = await audit.checkpoint()
    async with engine.begin() as conn:
        await conn.execute(update(AuditEntry).where(AuditEntry.id == ids[3]).values(after='{"employee_id":"e-9999"}'))
    await _rechain_with_key(engine, b"test audit key")
    assert (await audit.verify()).ok
    result = await audit.verify([point])
    assert not result.ok and result.reason == "rewritten" and result.first_broken_id == ids[-1]


async def test_a_forged_checkpoint_is_refused(audit):
    await _three(audit)
    point = await audit.checkpoint()
    forged = replace(point, count=point.count - 1)
    result = await audit.verify([forged])
    assert not result.ok and result.reason == "checkpoint_signature"


async def test_a_chain_written_under_another_key_does_not_verify(engine, audit):
    await AuditLog(engine, b"someone else's key").record("mallory", "key.create", "key:x", None, {"a": 1})
    result = await audit.verify()
    assert not result.ok and result.reason == "content"


async def test_checkpoints_are_appended_to_their_file_and_read_back(audit, tmp_path):
    path = tmp_path / "checkpoints" / "audit.jsonl"
    await _three(audit)
    first = await audit.export_checkpoint(path)
    await audit.record("bob", "key.revoke", "key:k1", {"active": True}, {"active": False})
    second = await audit.export_checkpoint(path)
    assert read_checkpoints(path) == [first, second]
    assert (await audit.verify(read_checkpoints(path))).ok


async def test_concurrent_appends_from_two_replicas_do_not_fork_the_chain(engine):
    replicas = [AuditLog(engine, b"shared"), AuditLog(engine, b"shared")]
    await asyncio.gather(*(replicas[i % 2].record("bob", "key.create", f"key:{i}", None, {"i": i}) for i in range(16)))
    result = await replicas[0].verify()
    assert result.ok and result.checked == 16


async def test_string_states_are_kept_as_given(audit):
    await audit.record("carol", "policy.update", "policy", '{"version": "a"}', '{"version": "b"}')
    [entry] = await audit.entries()
    assert entry.before == '{"version": "a"}' and (await audit.verify()).ok
