"""`sobria audit`: verify the audit chain (against signed checkpoints) and export a checkpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

from gateway.ledger.audit import AuditLog, AuditVerification, Checkpoint, read_checkpoints
from gateway.i18n import translate

audit_app = typer.Typer(help="The audit log of committee and admin actions.", no_args_is_help=True)
T = TypeVar("T")


async def _with_audit(action: Callable[[AuditLog], Awaitable[T]]) -> T:
    from gateway.ledger import db
    from gateway.settings import get_settings

    settings = get_settings()
    await db.upgrade(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    try:
        return await action(AuditLog(engine, settings.effective_audit_key()))
    finally:
        await engine.dispose()


def _default_checkpoints() -> Path:
    from gateway.settings import get_settings

    return get_settings().effective_audit_checkpoint_path


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        Optional[list[Path]],
        typer.Option(help="A checkpoint file (repeatable); `--checkpoint default` reads the gateway's own"),
    ] = None,
) -> None:
    """Recompute every MAC; exit 1 when an entry was edited, inserted, deleted, or the tail cut."""
    points: list[Checkpoint] = []
    for path in checkpoint or []:
        file = _default_checkpoints() if str(path) == "default" else path
        if not file.exists():
            typer.secho(translate("audit.checkpoint_missing", path=str(file)), fg="red", err=True)
            raise typer.Exit(2)
        points.extend(read_checkpoints(file))

    async def run(audit: AuditLog) -> AuditVerification:
        return await audit.verify(points)

    result = asyncio.run(_with_audit(run))
    if result.ok:
        typer.echo(translate("audit.verify_ok", checked=result.checked))
        if points:
            typer.echo(translate("audit.checkpoints_ok", count=len(points)))
        return
    typer.secho(translate("audit.verify_broken", id=result.first_broken_id, reason=translate(f"audit.reason.{result.reason}"),
                          checked=result.checked), fg="red", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[Optional[Path], typer.Option(help="Checkpoint file to append to (default: the gateway's)")] = None,
) -> None:
    """Append a signed checkpoint of the chain's head (the gateway also exports one periodically)."""
    path = out or _default_checkpoints()

    async def run(audit: AuditLog) -> Checkpoint:
        return await audit.export_checkpoint(path)

    point = asyncio.run(_with_audit(run))
    typer.echo(translate("audit.checkpoint_written", count=point.count, id=point.head_id, path=str(path)))
