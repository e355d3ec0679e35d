"""The `sobria` command: serve the gateway, manage keys, migrate the database."""

from __future__ import annotations

import asyncio
from typing import Annotated, Optional

import typer

from gateway.inventory.audit_cli import audit_app
from gateway.inventory.csr_cli import csr_report_command
from gateway.inventory.report import report_command
from gateway.settings import Settings, get_settings
from policies.cli import policy_app

app = typer.Typer(help="Sobria, the frugal GenAI gateway.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


async def _keystore(settings: Settings):  # noqa: ANN202
    from gateway.keys import KeyStore
    from gateway.ledger import db

    await db.upgrade(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    return engine, KeyStore(engine)


def _cli_actor() -> str:
    """Who ran a CLI command, for the audit log: the operating-system user."""
    import getpass

    return f"cli:{getpass.getuser()}"


async def _bootstrap_admin(settings: Settings) -> str | None:
    """Create the first admin key when there is none; returns it (shown once)."""
    engine, keys = await _keystore(settings)
    try:
        if await keys.count_admins():
            return None
        key, _ = await keys.create("bootstrap admin", "admin", "it", ["admin"])
        return key
    finally:
        await engine.dispose()


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on")] = None,
    port: Annotated[Optional[int], typer.Option(help="TCP port")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core)")] = 1,
) -> None:
    """Run the gateway (embedded defaults: SQLite, in-process budgets, demo models)."""
    import uvicorn

    settings = get_settings()
    first_key = asyncio.run(_bootstrap_admin(settings))
    if first_key:
        typer.secho("First start: an admin key was created. It is shown only this once:", fg="yellow")
        typer.secho(f"  {first_key}", fg="green", bold=True)
        typer.echo("Create personal keys with: sobria keys create --employee ID --department DEPT")
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


@keys_app.command("create")
def keys_create(
    employee: Annotated[str, typer.Option(help="Employee id (pseudonymised in the ledger)")],
    department: Annotated[str, typer.Option(help="Department code")],
    role: Annotated[list[str], typer.Option(help="employee, committee or admin (repeatable)")] = ["employee"],
    name: Annotated[str, typer.Option(help="What the key is for")] = "personal key",
    trusted_frontend: Annotated[bool, typer.Option(help="A chat front end that forwards its users")] = False,
) -> None:
    """Create a key and print it once (only its hash is kept)."""

    async def run() -> tuple[str, str]:
        from gateway.audit import AuditLog

        engine, keys = await _keystore(get_settings())
        try:
            key, record = await keys.create(name, employee, department, role, trusted_frontend)
            after = {"employee_id": employee, "department": department, "roles": sorted(role), "name": name}
            await AuditLog(engine).record(_cli_actor(), "key.create", record.key_id, None, after)
            return key, record.key_id
        finally:
            await engine.dispose()

    try:
        key, key_id = asyncio.run(run())
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"key id: {key_id}")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, owners, roles, status; never the keys)."""

    async def run():  # noqa: ANN202
        engine, keys = await _keystore(get_settings())
        try:
            return await keys.list()
        finally:
            await engine.dispose()

    for record in asyncio.run(run()):
        status = f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "active"
        roles = ",".join(sorted(record.roles))
        typer.echo(f"{record.key_id}  {record.employee_id:<20} {record.department:<12} {roles:<24} {status}  {record.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'keys list'")]) -> None:
    """Revoke a key; every replica refuses it within a second."""

    async def run() -> bool:
        from gateway.audit import AuditLog

        engine, keys = await _keystore(get_settings())
        try:
            revoked = await keys.revoke(key_id)
            if revoked:
                await AuditLog(engine).record(_cli_actor(), "key.revoke", key_id, {"active": True}, {"active": False})
            return revoked
        finally:
            await engine.dispose()

    if not asyncio.run(run()):
        typer.secho(f"no active key {key_id}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending schema migration."""
    from gateway.ledger import db

    url = get_settings().effective_database_url
    db.upgrade_sync(url)
    typer.echo("database schema is up to date")


app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.command("report")(report_command)
app.command("csr-report")(csr_report_command)
