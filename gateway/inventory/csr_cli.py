"""`sobria csr-report --period YYYY|YYYY-MM`: the CSR report as PDF, Markdown and CSV files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("pdf", "md", "csv")


async def _run(period: str, out: Path, language: str, formats: list[str]) -> list[Path]:
    from gateway.providers.catalogue import Catalogue
    from gateway.inventory.csr import build_csr_report
    from gateway.inventory.csr_render import render_csv, render_markdown, render_pdf
    from gateway.inventory.usage import UsageAggregator
    from gateway.inventory.views import CommitteeViews
    from gateway.ledger import db
    from gateway.settings import get_settings

    settings = get_settings()
    await db.upgrade(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    try:
        views = CommitteeViews(engine, UsageAggregator(engine, settings.k_anonymity))
        report = await build_csr_report(engine, views, Catalogue.load(settings.catalogue_path), period)
    finally:
        await engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for extension in formats:
        path = out / f"sobria-csr-{period}-{language}.{extension}"
        if extension == "pdf":
            path.write_bytes(render_pdf(report, language))
        elif extension == "md":
            path.write_text(render_markdown(report, language), encoding="utf-8")
        else:
            path.write_text(render_csv(report), encoding="utf-8")
        written.append(path)
    return written


def csr_report_command(
    period: Annotated[str, typer.Option(help="A year (YYYY) or a month (YYYY-MM)")],
    out: Annotated[Path | None, typer.Option(help="Directory for the files (default: data_dir/reports)")] = None,
    language: Annotated[str, typer.Option(help="en or fr")] = "en",
    format: Annotated[list[str] | None, typer.Option(help="pdf, md or csv; repeatable (default: all three)")] = None,
) -> None:
    """Write the CSR report of a month or a year (location- and market-based carbon, ranges, scopes)."""
    from gateway.inventory.csr import months_of
    from gateway.settings import get_settings

    try:
        months_of(period)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY or YYYY-MM", param_hint="--period") from exc
    formats = format or list(FORMATS)
    if set(formats) - set(FORMATS) or language not in {"en", "fr"}:
        raise typer.BadParameter("formats are pdf, md, csv; languages en, fr")
    folder = out or get_settings().data_dir / "reports"
    for path in asyncio.run(_run(period, folder, language, formats)):
        typer.echo(str(path))
