"""Read and append the policy history table."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.engine import PolicyEngine
from policies.tables import PolicyVersion


async def record_version(db: AsyncEngine, engine: PolicyEngine, actor: str) -> None:
    """Append the engine's current policy to the history (at start-up, on every reload)."""
    async with db.begin() as conn:
        await conn.execute(
            PolicyVersion.__table__.insert().values(
                version=engine.version,
                version_label=engine.policy.version_label,
                loaded_at=engine.loaded_at,
                source=engine.source[:256],
                actor=actor,
                text=engine.text,
            )
        )


async def list_versions(db: AsyncEngine, limit: int = 100) -> list[dict]:
    """The most recent loaded versions first, without their text."""
    t = PolicyVersion
    query = select(t.version, t.version_label, t.loaded_at, t.source, t.actor).order_by(t.id.desc()).limit(limit)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {"version": r.version, "version_label": r.version_label, "loaded_at": r.loaded_at.isoformat(),
         "source": r.source, "actor": r.actor}
        for r in rows
    ]


async def version_text(db: AsyncEngine, version: str) -> str | None:
    """The YAML of one recorded version, or None."""
    query = select(PolicyVersion.text).where(PolicyVersion.version == version).limit(1)
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar_one_or_none()
