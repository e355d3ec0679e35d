"""`sobria audit verify`: walk the audit log's hash chain and name the first broken entry."""

from __future__ import annotations

import asyncio

import typer

from gateway.audit import AuditLog, AuditVerification
from gateway.i18n import translate

audit_app = typer.Typer(help="The audit log of committee and admin actions.", no_args_is_help=True)


async def _verify() -> AuditVerification:
    from gateway.ledger import db
    from gateway.settings import get_settings

    url = get_settings().effective_database_url
    await db.upgrade(url)
    engine = db.make_engine(url)
    try:
        return await AuditLog(engine).verify()
    finally:
        await engine.dispose()


@audit_app.command("verify")
def verify() -> None:
    """Recompute every hash; exit 1 when an entry was edited, inserted or deleted."""
    result = asyncio.run(_verify())
    if result.ok:
        typer.echo(translate("audit.verify_ok", checked=result.checked))
        return
    typer.secho(translate("audit.verify_broken", id=result.first_broken_id, reason=translate(f"audit.reason.{result.reason}"),
                          checked=result.checked), fg="red", err=True)
    raise typer.Exit(1)
