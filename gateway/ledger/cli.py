"""`sobria ledger`: maintain the ledger's roll-ups and raw-row retention."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Annotated, Optional

import typer

ledger_app = typer.Typer(help="The usage ledger: roll-ups and retention.", no_args_is_help=True)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=option) from exc


async def _rebuild(first: date | None, last: date | None) -> None:
    from gateway.ledger import db, rollups
    from gateway.settings import get_settings

    url = get_settings().effective_database_url
    await db.upgrade(url)
    engine = db.make_engine(url)
    try:
        span = await rollups.ledger_days(engine)
        if span is None and (first is None or last is None):
            typer.echo("the ledger holds no rows: nothing to rebuild")
            return
        first = first or span[0]  # type: ignore[index]
        last = last or span[1]  # type: ignore[index]
        if last < first:
            raise typer.BadParameter("--to is before --from", param_hint="--to")
        began = time.monotonic()

        def progress(day: date, done: int, total: int) -> None:
            typer.echo(f"{day.isoformat()}  {done}/{total} days  {time.monotonic() - began:.1f} s")

        days = await rollups.rebuild(engine, first, last, progress)
        typer.echo(f"rebuilt the roll-ups of {days} day(s), {first.isoformat()} to {last.isoformat()}")
    finally:
        await engine.dispose()


@ledger_app.command("rollup")
def rollup(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Recompute the roll-ups from the raw rows")] = False,
    from_: Annotated[Optional[str], typer.Option("--from", help="First UTC day, YYYY-MM-DD (default: oldest row)")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="Last UTC day, YYYY-MM-DD (default: newest row)")] = None,
) -> None:
    """Recompute the roll-ups of a range of days from the raw rows, one day per transaction.

    For a ledger upgraded from a version without roll-ups, or to repair them. Safe while
    the gateway writes: on PostgreSQL each day's transaction locks the roll-ups briefly."""
    if not rebuild:
        raise typer.BadParameter("say --rebuild to recompute the roll-ups", param_hint="--rebuild")
    asyncio.run(_rebuild(_day(from_, "--from"), _day(to, "--to")))


@ledger_app.command("prune")
def prune(
    keep_months: Annotated[int, typer.Option(help="Months of raw rows to keep, the current one included", min=1)],
) -> None:
    """Remove raw rows older than the retention now (the gateway also does it at start-up)."""
    from gateway.ledger import db, partitions
    from gateway.settings import get_settings

    async def run() -> int:
        url = get_settings().effective_database_url
        await db.upgrade(url)
        engine = db.make_engine(url)
        try:
            return await partitions.prune(engine, keep_months, datetime.now(UTC).date())
        finally:
            await engine.dispose()

    typer.echo(f"removed {asyncio.run(run())} partition(s) or row(s)")
