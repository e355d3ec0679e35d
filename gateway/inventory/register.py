"""The register of use cases: versioned records, every change attributed and audited.

Each change writes the new current row, a version row holding the whole record, and
an audit entry (before/after) in one transaction, so none exists without the others.
Concurrent edits are caught by the version number (optimistic locking, 409).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.errors import Conflict, Incomplete, NotFound

from gateway.ledger.audit import AuditLog
from gateway.inventory.classification import Answers, propose
from gateway.inventory.lifecycle import PROVISIONAL_STATUSES, check_transition
from gateway.inventory.model import (
    Identity,
    Lifecycle,
    RiskClass,
    StoredUseCase,
    UseCaseRecord,
)
from gateway.inventory.tables import InventoryUseCase, InventoryUseCaseVersion

SYSTEM_ACTOR = "system"
_POLICY_SERVES = frozenset({"active", "pilot"})
_POLICY_STATUS = {"suspended": "suspended", "retired": "retired"}


def _document(record: UseCaseRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _stored(row: Any) -> StoredUseCase:
    at = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return StoredUseCase(record=UseCaseRecord.model_validate(row.document), version=row.version,
                         updated_at=at, updated_by=row.updated_by)


def _columns(record: UseCaseRecord) -> dict[str, Any]:
    return {
        "name": record.identity.name[:256],
        "department": record.identity.department[:64],
        "owner": record.identity.owner[:128],
        "status": record.lifecycle.status,
        "risk_class": record.risk.ai_act_class,
        "next_review": record.lifecycle.next_review,
        "document": _document(record),
    }


class Register:
    """Read and change the inventory of use cases."""

    def __init__(self, engine: AsyncEngine, audit: AuditLog):
        self._engine = engine
        self._audit = audit

    # -- reads ----------------------------------------------------------------------

    async def list(
        self, status: str | None = None, department: str | None = None, risk_class: str | None = None
    ) -> list[StoredUseCase]:
        query = select(InventoryUseCase).order_by(InventoryUseCase.id)
        for column, value in ((InventoryUseCase.status, status), (InventoryUseCase.department, department),
                              (InventoryUseCase.risk_class, risk_class)):
            if value is not None:
                query = query.where(column == value)
        async with self._engine.connect() as conn:
            return [_stored(row) for row in (await conn.execute(query)).all()]

    async def get(self, use_case_id: str) -> StoredUseCase | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(InventoryUseCase).where(InventoryUseCase.id == use_case_id))).first()
        return _stored(row) if row else None

    async def require(self, use_case_id: str) -> StoredUseCase:
        found = await self.get(use_case_id)
        if found is None:
            raise NotFound("use_case_not_found", use_case=use_case_id)
        return found

    async def history(self, use_case_id: str) -> builtins.list[dict[str, Any]]:
        """Every version of a use case, oldest first: who changed it, when, how, and the record."""
        query = (select(InventoryUseCaseVersion).where(InventoryUseCaseVersion.use_case_id == use_case_id)
                 .order_by(InventoryUseCaseVersion.version))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"version": r.version, "at": r.at.isoformat(), "actor": r.actor, "change": r.change,
                 "record": r.document} for r in rows]

    async def statuses(self) -> dict[str, tuple[str, str, bool]]:
        """Use case id -> (status, decision, provisional): what the gateway's status gate needs."""
        query = select(InventoryUseCase.id, InventoryUseCase.status, InventoryUseCase.document)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out: dict[str, tuple[str, str, bool]] = {}
        for r in rows:
            lifecycle = r.document.get("lifecycle") or {}
            out[r.id] = (r.status, str(lifecycle.get("decision") or ""), bool(lifecycle.get("provisional")))
        return out

    async def due_for_review(self, by: date) -> builtins.list[StoredUseCase]:
        """Serving or suspended use cases whose next review is on or before `by` (or never set)."""
        return [s for s in await self.list()
                if s.record.lifecycle.status not in {"retired", "rejected"}
                and (s.record.lifecycle.next_review is None or s.record.lifecycle.next_review <= by)]

    # -- changes --------------------------------------------------------------------

    async def create(self, record: UseCaseRecord, actor: str) -> StoredUseCase:
        """Register a new use case as a draft."""
        record = record.model_copy(update={"lifecycle": Lifecycle()})
        record = record.model_copy(update={"risk": record.risk.model_copy(
            update={"ai_act_class": "unclassified", "classified_by": None, "classified_at": None})})
        async with self._engine.begin() as conn:
            return await self._insert(conn, record, actor, "create")

    async def update(self, use_case_id: str, record: UseCaseRecord, actor: str,
                     expected_version: int | None = None) -> StoredUseCase:
        """Change the descriptive sections; status and classification change only through
        `transition` and `classify`."""
        current = await self.require(use_case_id)
        merged = record.model_copy(update={"id": use_case_id, "lifecycle": current.record.lifecycle,
                                           "risk": current.record.risk})
        return await self._write(current, merged, actor, "update", expected_version)

    async def transition(self, use_case_id: str, target: str, actor: str, decision: str = "",
                         conditions: builtins.list[str] | None = None, next_review: date | None = None,
                         expected_version: int | None = None) -> StoredUseCase:
        """Move a use case to another lifecycle status, if allowed and complete."""
        current = await self.require(use_case_id)
        lifecycle = current.record.lifecycle.model_copy(update={
            "status": target,
            "decision": decision or current.record.lifecycle.decision,
            "conditions": conditions if conditions is not None else current.record.lifecycle.conditions,
            "next_review": next_review or current.record.lifecycle.next_review,
            "decided_by": actor,
            "decided_on": datetime.now(UTC).date(),
            "provisional": current.record.lifecycle.provisional and target in PROVISIONAL_STATUSES,
        })
        candidate = current.record.model_copy(update={"lifecycle": lifecycle})
        as_checked = lifecycle.model_copy(update={"status": current.record.lifecycle.status,
                                                  "provisional": current.record.lifecycle.provisional})
        check_transition(candidate.model_copy(update={"lifecycle": as_checked}), target, decision,
                         lifecycle.conditions)
        return await self._write(current, candidate, actor, "transition", expected_version)

    async def classify(self, use_case_id: str, answers: Answers, actor: str, confirm_class: RiskClass | None = None,
                       rationale: str = "", annex_iii_point: str | None = None) -> tuple[StoredUseCase, Any]:
        """Record the guided answers' proposal; with `confirm_class`, the committee's decision."""
        current = await self.require(use_case_id)
        proposal = propose(answers)
        changes: dict[str, Any] = {
            "proposed_class": proposal.risk_class,
            "proposal_reasons": [reason.key for reason in proposal.reasons],
            "profiling": proposal.profiling,
        }
        if confirm_class is not None:
            if not rationale.strip():
                raise Incomplete("rationale_required", param="rationale")
            changes.update(ai_act_class=confirm_class, rationale=rationale, classified_by=actor,
                           classified_at=datetime.now(UTC),
                           annex_iii_point=annex_iii_point or proposal.annex_iii_point)
        risk = current.record.risk.model_copy(update=changes)
        stored = await self._write(current, current.record.model_copy(update={"risk": risk}), actor, "classify")
        return stored, proposal

    async def import_records(self, records: Iterable[UseCaseRecord], actor: str) -> dict[str, int]:
        """Create or replace whole records (statuses included), each versioned and audited."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for record in records:
            current = await self.get(record.id)
            if current is None:
                async with self._engine.begin() as conn:
                    await self._insert(conn, record, actor, "import")
                counts["created"] += 1
            elif _document(current.record) == _document(record):
                counts["unchanged"] += 1
            else:
                await self._write(current, record, actor, "import")
                counts["updated"] += 1
        return counts

    async def seed_from_policy(self, use_cases: Iterable[Any]) -> builtins.list[str]:
        """Register the policy's use cases the register does not know yet.

        Every one starts as a draft: nobody has classified or approved it. On a first
        start (empty register) the policy's active and pilot use cases are drafts marked
        provisional, served until the committee's first decision, so the shipped
        defaults work at once without being called approved; the page lists what each
        still needs. Later, a use case that appears only in the policy is a plain draft,
        refused until approved. Every seeding is audited as the system's."""
        known = set(await self.statuses())
        first_start = not known
        seeded: list[str] = []
        for uc in use_cases:
            if uc.id in known:
                continue
            policy_status = str(getattr(uc, "status", "active"))
            status = _POLICY_STATUS.get(policy_status, "draft") if first_start else "draft"
            record = UseCaseRecord(
                id=uc.id,
                identity=Identity(name=uc.name, summary=getattr(uc, "description", "") or "",
                                  owner=getattr(uc, "owner", "") or "",
                                  stage="pilot" if policy_status == "pilot" else "idea"),
                lifecycle=Lifecycle(status=status, decided_by=SYSTEM_ACTOR,
                                    provisional=first_start and policy_status in _POLICY_SERVES),
            )
            try:
                async with self._engine.begin() as conn:
                    await self._insert(conn, record, SYSTEM_ACTOR, "seed")
            except Conflict:  # another replica seeded it meanwhile
                continue
            seeded.append(uc.id)
        return seeded

    # -- storage --------------------------------------------------------------------

    async def _insert(self, conn: AsyncConnection, record: UseCaseRecord, actor: str, change: str) -> StoredUseCase:
        now = datetime.now(UTC)
        try:
            await conn.execute(insert(InventoryUseCase).values(id=record.id, version=1, updated_at=now,
                                                               updated_by=actor, **_columns(record)))
        except IntegrityError:
            raise Conflict("use_case_exists", use_case=record.id) from None
        await self._version(conn, record, 1, actor, change, now)
        await self._audit.append(conn, actor, f"use_case.{change}", f"use_case:{record.id}", None, _document(record))
        return StoredUseCase(record=record, version=1, updated_at=now, updated_by=actor)

    async def _write(self, current: StoredUseCase, record: UseCaseRecord, actor: str, change: str,
                     expected_version: int | None = None) -> StoredUseCase:
        if expected_version is not None and expected_version != current.version:
            raise Conflict("version_conflict", use_case=record.id, version=current.version)
        now, version = datetime.now(UTC), current.version + 1
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(InventoryUseCase)
                .where(InventoryUseCase.id == record.id, InventoryUseCase.version == current.version)
                .values(version=version, updated_at=now, updated_by=actor, **_columns(record))
            )
            if result.rowcount != 1:
                raise Conflict("version_conflict", use_case=record.id, version=current.version)
            await self._version(conn, record, version, actor, change, now)
            before, after = _changed_sections(_document(current.record), _document(record))
            await self._audit.append(conn, actor, f"use_case.{change}", f"use_case:{record.id}", before, after)
        return StoredUseCase(record=record, version=version, updated_at=now, updated_by=actor)

    @staticmethod
    async def _version(conn: AsyncConnection, record: UseCaseRecord, version: int, actor: str, change: str,
                       at: datetime) -> None:
        await conn.execute(insert(InventoryUseCaseVersion).values(
            use_case_id=record.id, version=version, at=at, actor=actor, change=change, document=_document(record)))


def _changed_sections(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the sections that changed, so the audit log reads as a diff."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
