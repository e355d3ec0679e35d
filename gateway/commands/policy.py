"""`sobria policy check|diff|replay`: validate, compare and dry-run routing policies."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from gateway.providers.catalogue import Catalogue
from policies.check import check_text
from policies.diff import diff_policies
from policies.engine import PolicyEngine, PolicyError
from gateway.ledger.replay_rows import load_rows
from policies.replay import replay

policy_app = typer.Typer(help="Validate, compare and replay routing policies.", no_args_is_help=True)

CatalogueOption = Annotated[
    Optional[Path], typer.Option("--catalogue", help="Model catalogue YAML (default: the gateway's).")
]
_DURATION = re.compile(r"^(\d+)([hdw])$")


def _catalogue(path: Path | None) -> Catalogue:
    if path is None:
        from gateway.settings import get_settings

        path = get_settings().catalogue_path
    return Catalogue.load(path)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'30d', '12h', '2w' before now, or an ISO date/datetime (UTC when naive)."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected 30d, 12h, 2w or an ISO date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _load(path: Path, catalogue: Catalogue) -> PolicyEngine:
    try:
        return PolicyEngine.from_text(path.read_text(encoding="utf-8"), catalogue, str(path))
    except PolicyError as exc:
        for issue in exc.issues:
            typer.echo(issue.render(str(path)), err=True)
        raise typer.Exit(1) from exc


@policy_app.command()
def check(
    file: Path,
    catalogue: CatalogueOption = None,
    register: Annotated[
        bool, typer.Option(help="Also report drift from the committee's register (in the gateway's database).")
    ] = True,
    strict: Annotated[bool, typer.Option(help="Exit 2 when the policy and the register drift apart.")] = False,
) -> None:
    """Report schema and semantic errors with line numbers; exit 1 if there is any."""
    report = check_text(file.read_text(encoding="utf-8"), _catalogue(catalogue))
    for issue in report.issues:
        typer.echo(issue.render(str(file)), err=True)
    for warning in report.warnings:
        typer.echo(warning.render(str(file)), err=True)
    if not report.ok:
        typer.echo(f"{file}: {len(report.issues)} error(s)", err=True)
        raise typer.Exit(1)
    policy = report.policy
    assert policy is not None
    typer.echo(f"{file}: OK ({len(policy.use_cases)} use cases, {len(policy.rules)} rules)")
    if register:
        drifts = asyncio.run(_register_drift(policy.use_cases))
        for line in drifts:
            typer.echo(f"{file}: drift: {line}", err=True)
        if drifts and strict:
            raise typer.Exit(2)


async def _register_drift(use_cases: list) -> list[str]:  # noqa: ANN001
    """Drift between these use cases and the register, or nothing when there is no register yet."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.ledger.audit import AuditLog
    from gateway.inventory.drift import drift
    from gateway.inventory.register import Register
    from gateway.ledger import db
    from gateway.settings import get_settings

    settings = get_settings()
    engine = db.make_engine(settings.effective_database_url)
    try:
        statuses = await Register(engine, AuditLog(engine, settings.effective_audit_key())).statuses()
    except SQLAlchemyError:
        return []
    finally:
        await engine.dispose()
    return [d.render() for d in drift(use_cases, statuses)]


@policy_app.command()
def diff(old: Path, new: Path, catalogue: CatalogueOption = None) -> None:
    """What changes from OLD to NEW, rule by rule."""
    cat = _catalogue(catalogue)
    before, after = _load(old, cat), _load(new, cat)
    changes = diff_policies(before.policy, after.policy)
    typer.echo(f"{old} ({before.version}) -> {new} ({after.version}): {len(changes)} change(s)")
    for change in changes:
        typer.echo(change.render())


@policy_app.command(name="replay")
def replay_command(
    new: Path,
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 2w or an ISO date.")] = "30d",
    database_url: Annotated[
        Optional[str], typer.Option("--database-url", help="Ledger URL (default: the gateway's).")
    ] = None,
    catalogue: CatalogueOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Re-decide the ledger's recent requests under NEW; report model, cost and CO2e changes."""
    engine = _load(new, _catalogue(catalogue))
    start = parse_since(since)
    if database_url is None:
        from gateway.settings import get_settings

        database_url = get_settings().effective_database_url
    rows = asyncio.run(load_rows(database_url, start))
    report = replay(rows, engine, since=start)
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.render())
