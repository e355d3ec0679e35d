"""The `sobria` command: serve the gateway, manage keys, budgets and the policy, migrate the database.

The admin commands call the same services as the JSON API and the pages
(`gateway.services`), so an action has the same validation and audit entry whichever
door it came through; the CLI's actor is `cli:<operating-system user>`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

from contracts.errors import DomainError
from gateway.i18n import translate
from gateway.commands.impacts import impacts_app
from gateway.inventory.audit_cli import audit_app
from gateway.inventory.csr_cli import csr_report_command
from gateway.inventory.report import report_command
from gateway.ledger.cli import ledger_app
from gateway.settings import Settings, get_settings
from gateway.commands.policy import policy_app

if TYPE_CHECKING:
    from gateway.services.policy_publishing import PublishOutcome
    from gateway.services.standalone import CliServices

app = typer.Typer(help="Sobria, the frugal GenAI gateway.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
budgets_app = typer.Typer(help="Budget overrides per scope.", no_args_is_help=True)
pseudonyms_app = typer.Typer(help="Link an employee to their pseudonym (audited).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
frontend_app = typer.Typer(help="Connect a chat front end (Open WebUI) that forwards its users.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(budgets_app, name="budgets")
app.add_typer(pseudonyms_app, name="pseudonyms")
app.add_typer(db_app, name="db")
T = TypeVar("T")


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


def _cli_actor() -> str:
    """Who ran a CLI command, for the audit log: the operating-system user."""
    import getpass

    return f"cli:{getpass.getuser()}"


def _run(action: Callable[[CliServices], Awaitable[T]]) -> T:
    """Run one admin action on the services; a domain error is printed in words and exits 2 (1 for not found)."""
    from contracts.errors import NotFound
    from gateway.services.standalone import open_services

    async def run() -> T:
        async with open_services(get_settings()) as services:
            return await action(services)

    try:
        return asyncio.run(run())
    except DomainError as error:
        message = translate(error.message_key, "en", **error.params)
        typer.secho(f"{error.param}: {message}" if error.param else message, fg="red", err=True)
        raise typer.Exit(1 if isinstance(error, NotFound) else 2) from error


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on")] = None,
    port: Annotated[Optional[int], typer.Option(help="TCP port")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core)")] = 1,
) -> None:
    """Run the gateway (embedded defaults: SQLite, in-process budgets, demo models)."""
    import uvicorn

    settings = get_settings()
    first_key = _run(lambda services: services.keys.bootstrap_admin("system:first-start"))
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
    role: Annotated[Optional[list[str]], typer.Option(help="employee, committee or admin (repeatable)")] = None,
    name: Annotated[str, typer.Option(help="What the key is for")] = "personal key",
    trusted_frontend: Annotated[bool, typer.Option(help="A chat front end that forwards its users")] = False,
    create_data_dir: Annotated[bool, typer.Option(help="Start a new, empty gateway database if none exists")] = False,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    _existing_gateway(create_data_dir)
    from gateway.services.keys import CreatedKey, NewKey

    async def create(services: CliServices) -> CreatedKey:
        roles = tuple(role or ["employee"])
        return await services.keys.create(_cli_actor(), NewKey(employee, department, roles, name, trusted_frontend))

    created = _run(create)
    typer.echo(f"key id: {created.record.key_id}")
    typer.echo(created.key)


@frontend_app.command("add")
def frontend_add(
    name: Annotated[str, typer.Option(help="The front end's name, e.g. open-webui")] = "open-webui",
    department: Annotated[str, typer.Option(help="Department charged when it calls without a user (model listing)")] = "it",
    gateway_url: Annotated[str | None, typer.Option(help="Sobria's URL as Open WebUI reaches it")] = None,
    create_data_dir: Annotated[bool, typer.Option(help="Start a new, empty gateway database if none exists")] = False,
) -> None:
    """Create a front-end key and print the exact Open WebUI and Sobria settings that go with it."""
    settings = _existing_gateway(create_data_dir)
    from gateway.services.keys import NewKey

    created = _run(lambda services: services.keys.create(
        _cli_actor(), NewKey(f"frontend:{name}", department, ("employee",), f"front end {name}", True)))
    key, key_id = created.key, created.record.key_id
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
    _existing_gateway(False)
    for record in _run(lambda services: services.keys.list()):
        status = f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "active"
        roles = ",".join(sorted(record.roles))
        typer.echo(f"{record.key_id}  {record.employee_id:<20} {record.department:<12} {roles:<24} {status}  {record.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'keys list'")]) -> None:
    """Revoke a key; every replica refuses it within a second."""
    _existing_gateway(False)
    _run(lambda services: services.keys.revoke(_cli_actor(), key_id))
    typer.echo(f"revoked {key_id}")


@budgets_app.command("set")
def budgets_set(
    scope: Annotated[str, typer.Argument(help="org, employee:<id>, department:<code> or use_case:<id>")],
    eur: Annotated[Optional[str], typer.Option(help="Limit in euros per window (unset: no euro limit)")] = None,
    gco2e_g: Annotated[Optional[str], typer.Option(help="Limit in grams CO2e per window")] = None,
    window: Annotated[str, typer.Option(help="rolling or calendar_month")] = "rolling",
    window_days: Annotated[str, typer.Option(help="Length of a rolling window")] = "30",
) -> None:
    """Set the budget of one scope (an employee is named by id and stored by pseudonym)."""
    from gateway.services.budget_overrides import make_rule

    async def put(services: CliServices) -> str:
        change = await services.budget_overrides.set(_cli_actor(), scope, make_rule(eur, gco2e_g, window, window_days))
        return change.scope

    typer.echo(f"set {_run(put)}")


@budgets_app.command("remove")
def budgets_remove(scope: Annotated[str, typer.Argument(help="The scope of the override")]) -> None:
    """Remove an override: the scope goes back to its configured default."""

    async def remove(services: CliServices) -> str:
        return (await services.budget_overrides.remove(_cli_actor(), scope)).scope

    typer.echo(f"removed {_run(remove)}")


@budgets_app.command("list")
def budgets_list() -> None:
    """Every override and its rule."""
    for scope, rule in sorted(_run(lambda services: services.budget_overrides.overrides()).items()):
        typer.echo(f"{scope:<42} eur={rule.eur} gco2e_g={rule.gco2e_g} {rule.window} {rule.window_days}d")


@policy_app.command("publish")
def policy_publish(
    file: Annotated[Path, typer.Argument(help="The policy YAML to publish to every replica")],
    dry_run: Annotated[bool, typer.Option(help="Validate, diff and replay only")] = False,
) -> None:
    """Publish a policy through the same service as the admin API (validated, audited, followed by every replica)."""
    text = file.read_text(encoding="utf-8")
    async def submit(services: CliServices) -> PublishOutcome:
        publishing = await services.policy()
        return await publishing.submit(text, _cli_actor(), publish=not dry_run, with_replay=dry_run)

    outcome = _run(submit)
    for change in outcome.changes:
        typer.echo(change)
    if not outcome.valid:
        for issue in outcome.issues:
            typer.secho(issue.render(str(file)), fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{'published' if outcome.applied else 'checked'} {outcome.version}")


@pseudonyms_app.command("link")
def pseudonyms_link(
    employee: Annotated[str, typer.Argument(help="The employee id")],
    reason: Annotated[str, typer.Option(help="Why the link is needed (kept in the audit log)")],
) -> None:
    """Print the pseudonym that stands for an employee in the ledger; audited as pseudonym.link."""
    _existing_gateway(False)
    typer.echo(_run(lambda services: services.pseudonym_links.link(_cli_actor(), employee, reason)))


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
app.add_typer(ledger_app, name="ledger")
app.add_typer(impacts_app, name="impacts")
app.command("csr-report")(csr_report_command)
