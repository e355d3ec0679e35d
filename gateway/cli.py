"""The `sobria` command: serve the gateway, manage keys, migrate the database."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Annotated, Optional

import typer

from gateway.inventory.audit_cli import audit_app
from gateway.inventory.report import report_command
from gateway.settings import Settings, get_settings
from policies.cli import policy_app

app = typer.Typer(help="Sobria, the frugal GenAI gateway.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
frontend_app = typer.Typer(help="Connect a chat front end (Open WebUI) that forwards its users.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(frontend_app, name="frontend")


@app.callback()
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The gateway's data directory (default: SOBRIA_DATA_DIR, SOBRIA_CONFIG, ./sobria-data)"),
    ] = None,
) -> None:
    """Sobria, the frugal GenAI gateway."""
    if data_dir is not None:
        os.environ["SOBRIA_DATA_DIR"] = str(data_dir.resolve())
        get_settings.cache_clear()


def _existing_gateway(create: bool) -> Settings:
    """The settings of the gateway these commands manage, refusing to start a new empty one.

    With SQLite, the ledger lives in the data directory; a command run from another
    folder would otherwise make a fresh database there, and `sobria serve` would then
    refuse the keys it printed."""
    settings = get_settings()
    if settings.database_url or create:
        return settings
    ledger = (settings.data_dir / "ledger.db").resolve()
    if not ledger.exists():
        typer.secho(
            f"No gateway database at {ledger}: this folder is not the gateway's data directory.\n"
            "Run the command where `sobria serve` runs, or point at its data with --data-dir PATH, "
            "SOBRIA_DATA_DIR or SOBRIA_CONFIG (the same settings as the server).\n"
            "To start a new, empty gateway here, add --create-data-dir.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    return settings


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
        typer.echo("Connect Open WebUI with: sobria frontend add --name open-webui")
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
    create_data_dir: Annotated[bool, typer.Option(help="Start a new, empty gateway database if none exists")] = False,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    settings = _existing_gateway(create_data_dir)
    try:
        key, key_id = asyncio.run(_create_key(settings, name, employee, department, role, trusted_frontend))
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"key id: {key_id}")
    typer.echo(key)


async def _create_key(
    settings: Settings, name: str, employee: str, department: str, roles: list[str], trusted_frontend: bool
) -> tuple[str, str]:
    """Create a key and audit it; returns (the key, its id)."""
    from gateway.audit import AuditLog

    engine, keys = await _keystore(settings)
    try:
        key, record = await keys.create(name, employee, department, roles, trusted_frontend)
        after = {"employee_id": employee, "department": department, "roles": sorted(roles), "name": name,
                 "trusted_frontend": trusted_frontend}
        await AuditLog(engine).record(_cli_actor(), "key.create", record.key_id, None, after)
        return key, record.key_id
    finally:
        await engine.dispose()


@frontend_app.command("add")
def frontend_add(
    name: Annotated[str, typer.Option(help="The front end's name, e.g. open-webui")] = "open-webui",
    department: Annotated[str, typer.Option(help="Department charged when it calls without a user (model listing)")] = "it",
    gateway_url: Annotated[str | None, typer.Option(help="Sobria's URL as Open WebUI reaches it")] = None,
    create_data_dir: Annotated[bool, typer.Option(help="Start a new, empty gateway database if none exists")] = False,
) -> None:
    """Create a front-end key and print the exact Open WebUI and Sobria settings that go with it."""
    settings = _existing_gateway(create_data_dir)
    key, key_id = asyncio.run(
        _create_key(settings, f"front end {name}", f"frontend:{name}", department, ["employee"], True)
    )
    url = gateway_url or f"http://{settings.host}:{settings.port}/v1"
    secret = None if settings.jwt_secret else secrets.token_urlsafe(48)
    shared = secret or "<the value of your SOBRIA_JWT_SECRET>"
    typer.echo(f"Front-end key {key_id} created for {name}. The key is shown only now.\n")
    typer.echo("Open WebUI (environment of its container):")
    typer.echo(f"  OPENAI_API_BASE_URL={url}")
    typer.echo(f"  OPENAI_API_KEY={key}")
    typer.echo("  ENABLE_FORWARD_USER_INFO_HEADERS=true")
    typer.echo(f"  FORWARD_USER_INFO_HEADER_JWT_SECRET={shared}")
    typer.echo("  # not WEBUI_SECRET_KEY: that one signs Open WebUI's logins and must stay in Open WebUI\n")
    typer.echo("Sobria (environment of `sobria serve`, then restart it):")
    typer.echo(f"  SOBRIA_JWT_SECRET={shared}")
    typer.echo(f"  SOBRIA_JWT_ISSUER={settings.jwt_issuer or 'open-webui'}")
    typer.echo(f"  SOBRIA_JWT_MAX_LIFETIME_S={settings.jwt_max_lifetime_s}")
    directory = settings.directory_path or Path("directory.csv")
    typer.echo(f"  SOBRIA_DIRECTORY_PATH={directory}   # CSV: email,user_id,name,employee_id,department")
    typer.echo(f"  SOBRIA_UNMAPPED_USERS={settings.unmapped_users}   # or charge_unmapped (department "
               f"'{settings.unmapped_department}')")
    typer.echo("\nWith the JWT secret set, Sobria refuses plain X-OpenWebUI-User-* headers from this key.")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, owners, roles, status; never the keys)."""

    settings = _existing_gateway(False)

    async def run():  # noqa: ANN202
        engine, keys = await _keystore(settings)
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

    settings = _existing_gateway(False)

    async def run() -> bool:
        from gateway.audit import AuditLog

        engine, keys = await _keystore(settings)
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
