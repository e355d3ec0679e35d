"""`sobria impacts`: restate stored figures under another factor set, list the sets kept."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer

from estimators.factors import CURRENT_VERSION, UnknownFactorSet, available_versions

impacts_app = typer.Typer(help="Impact figures: factor sets and restatement.", no_args_is_help=True)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@impacts_app.command("factor-sets")
def factor_sets() -> None:
    """List the factor sets kept in the package (the current one is marked)."""
    for version in available_versions():
        typer.echo(f"{version}{'  (current)' if version == CURRENT_VERSION else ''}")


@impacts_app.command("restate")
def restate_command(
    factor_set: Annotated[str, typer.Option("--factor-set", help="Factor-set version, e.g. sobria-factors-2026.2")],
    since: Annotated[str | None, typer.Option("--from", help="First request time (ISO 8601, UTC if no offset)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="End, excluded (ISO 8601)")] = None,
) -> None:
    """Recompute stored figures under a factor set; previous values are kept and the run is audited."""
    from gateway.ledger import db
    from gateway.ledger.restatement import restate
    from gateway.settings import get_settings

    try:
        start, end = _when(since), _when(until)
    except ValueError as exc:
        typer.secho(f"--from/--to must be ISO 8601 dates: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc

    async def run():
        url = get_settings().effective_database_url
        await db.upgrade(url)
        engine = db.make_engine(url)
        try:
            return await restate(engine, factor_set, f"cli:{getpass.getuser()}", start, end)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except UnknownFactorSet as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"restated {result.restated} requests to {result.factor_set_version} "
        f"(already under it: {result.already_current}; measured, kept: {result.measured_skipped}; "
        f"written before inputs were recorded, not restatable: {result.without_inputs})"
    )
    typer.echo(f"CO2e before: {result.gwp_ug_before / 1e6:.6g} g, after: {result.gwp_ug_after / 1e6:.6g} g")
