"""`sobria report --month YYYY-MM`: the monthly CSR report, in Markdown and CSV.

Every figure comes from the k-anonymous cube of `gateway.inventory.usage`, read from
the ledger's roll-ups (never the raw rows): per-use-case figures are sums of published cells, and the month totals are the published cells
plus the suppressed remainder, i.e. exactly the ledger's sums. Savings compare the
month with an always-largest-model baseline priced on the same tokens.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.providers.catalogue import Catalogue
from gateway.i18n import translate
from gateway.inventory.model import StoredUseCase
from gateway.inventory.register import Register
from gateway.inventory.usage import Figures, MonthUsage, UsageAggregator, month_range, previous_month, roll_up
from gateway.ledger.tables import DailyUsage

TOP_GROWING = 5


@dataclass(frozen=True, slots=True)
class Savings:
    baseline_model: str
    actual_cost_eur: float
    baseline_cost_eur: float
    actual_gco2e: float
    baseline_gco2e: float


@dataclass(frozen=True, slots=True)
class Growth:
    use_case: str
    previous_requests: int
    requests: int
    previous_gco2e: float
    gco2e: float


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the report says, as numbers; the renderers only lay it out."""

    month: str
    usage: MonthUsage
    by_use_case: dict[str, Figures]
    small_share: float | None
    methods: list[tuple[str, str, int]]
    savings: Savings | None
    growing: list[Growth]
    due: list[StoredUseCase]


async def _methods(engine: AsyncEngine, month: str) -> list[tuple[str, str, int]]:
    """(impact method, factor-set version, requests) used this month, from the daily roll-up."""
    start, end = month_range(month)
    query = (
        select(DailyUsage.impact_method, DailyUsage.factor_set_version, func.sum(DailyUsage.requests))
        .where(DailyUsage.day >= start.date(), DailyUsage.day < end.date(), DailyUsage.impact_method != "")
        .group_by(DailyUsage.impact_method, DailyUsage.factor_set_version)
        .order_by(DailyUsage.impact_method, DailyUsage.factor_set_version)
    )
    async with engine.connect() as conn:
        return [(str(m), str(v or "-"), int(n)) for m, v, n in (await conn.execute(query)).all()]


def _savings(usage: MonthUsage, catalogue: Catalogue, estimator: object | None) -> Savings | None:
    if not usage.totals_publishable or usage.total.requests == 0:
        return None
    total, largest = usage.total, catalogue.preferred("large")
    baseline_cost = largest.cost_micro_eur(total.input_tokens, total.output_tokens) / 1_000_000
    baseline_g = 0.0
    if estimator is not None:
        per_request = estimator.estimate(  # type: ignore[attr-defined]
            largest.impact, total.input_tokens // total.requests, total.output_tokens // total.requests)
        baseline_g = per_request.gwp_g.value * total.requests
    return Savings(largest.name, total.cost_eur, baseline_cost, total.gco2e, baseline_g)


def _small_share(usage: MonthUsage, catalogue: Catalogue) -> float | None:
    served = [c for c in usage.published if catalogue.get(c.model) is not None]
    requests = sum(c.figures.requests for c in served)
    if not requests:
        return None
    small = sum(c.figures.requests for c in served if getattr(catalogue.get(c.model), "tier", None) == "small")
    return small / requests


def _growing(now: dict[str, Figures], before: dict[str, Figures]) -> list[Growth]:
    rows = [Growth(uc, before.get(uc, Figures()).requests, f.requests, before.get(uc, Figures()).gco2e, f.gco2e)
            for uc, f in now.items()]
    rows = [g for g in rows if g.requests > g.previous_requests]
    rows.sort(key=lambda g: (-(g.requests - g.previous_requests) / max(g.previous_requests, 1), g.use_case))
    return rows[:TOP_GROWING]


async def build_report(engine: AsyncEngine, register: Register, aggregator: UsageAggregator, catalogue: Catalogue,
                       month: str, estimator: object | None = None) -> Report:
    """Collect the month's report from the ledger and the register."""
    usage = await aggregator.month(month)
    previous = await aggregator.month(previous_month(month))
    by_use_case = {k[0]: f for k, f in roll_up(usage.cells, ["use_case"]).items()}
    before = {k[0]: f for k, f in roll_up(previous.cells, ["use_case"]).items()}
    return Report(
        month=month,
        usage=usage,
        by_use_case=by_use_case,
        small_share=_small_share(usage, catalogue),
        methods=await _methods(engine, month),
        savings=_savings(usage, catalogue, estimator),
        growing=_growing(by_use_case, before),
        due=await register.due_for_review(due_date(month)),
    )


def _n(value: float, digits: int = 3) -> str:
    return f"{value:,.{digits}f}".replace(",", " ")


def _market(f: Figures, na: str) -> str:
    """Market-based kgCO2e, or `na` when a served request had no market-based factor."""
    return na if f.gco2e_market is None else _n(f.gco2e_market / 1000, 4)


def _figure_cells(f: Figures, na: str) -> list[str]:
    return [str(f.requests), str(f.input_tokens + f.output_tokens), _n(f.cost_eur, 4), _n(f.energy_wh / 1000, 4),
            _n(f.gco2e / 1000, 4), _market(f, na), _n(f.water_ml / 1000, 3)]


def render_markdown(report: Report, language: str = "en") -> str:
    """The report as Markdown, in English or French."""
    t = lambda key, **p: translate(f"report.{key}", language, **p)  # noqa: E731
    u = report.usage
    na = t("market_na")
    lines = [f"# {t('title', month=report.month)}", "", t("intro", k=u.k), ""]
    lines += [f"## {t('totals')}", ""]
    if u.totals_publishable:
        f = u.total
        rows = [("requests", str(f.requests)), ("tokens", f"{f.input_tokens:,} / {f.output_tokens:,}".replace(",", " ")),
                ("cost", _n(f.cost_eur, 4)), ("energy", _n(f.energy_wh / 1000, 4)),
                ("gco2e_location", _n(f.gco2e / 1000, 4)),
                ("gco2e_market", _market(f, na) if f.market_available else
                 f"{na} ({t('market_missing', count=f.market_missing_requests - f.refused)})"),
                ("water", _n(f.water_ml / 1000, 3)), ("distinct_users", str(u.total_users))]
        lines += [f"| {t('metric')} | {t('value')} |", "|---|---:|"]
        lines += [f"| {t(key)} | {value} |" for key, value in rows]
        if report.small_share is not None:
            lines.append(f"| {t('small_share')} | {report.small_share:.1%} |")
    else:
        lines.append(t("totals_withheld", k=u.k))
    header = [t("use_case"), t("requests"), t("tokens_short"), t("cost"), t("energy"), t("gco2e_location"),
              t("gco2e_market"), t("water")]
    lines += ["", f"## {t('by_use_case')}", "", "| " + " | ".join(header) + " |",
              "|---|" + "---:|" * (len(header) - 1)]
    for use_case, f in sorted(report.by_use_case.items()):
        lines.append("| " + " | ".join([use_case, *_figure_cells(f, na)]) + " |")
    if u.suppressed_cells and u.totals_publishable:
        lines.append("| " + " | ".join([t("suppressed_row", cells=u.suppressed_cells), *_figure_cells(u.remainder, na)]) + " |")
    lines += ["", t("suppression_note", k=u.k), "", f"## {t('method')}", ""]
    lines += [f"- {t('method_line', method=m, version=v, requests=n)}" for m, v, n in report.methods] or ["-"]
    lines += ["", f"## {t('savings')}", ""]
    s = report.savings
    if s is None:
        lines.append("-")
    else:
        lines.append(t("savings_text", model=s.baseline_model, actual=_n(s.actual_cost_eur, 4),
                       baseline=_n(s.baseline_cost_eur, 4), saved=_n(s.baseline_cost_eur - s.actual_cost_eur, 4),
                       actual_kg=_n(s.actual_gco2e / 1000, 4), baseline_kg=_n(s.baseline_gco2e / 1000, 4)))
    lines += ["", f"## {t('growth')}", ""]
    if report.growing:
        lines += [f"| {t('use_case')} | {t('previous')} | {t('requests')} | {t('gco2e_location')} |", "|---|---:|---:|---:|"]
        lines += [f"| {g.use_case} | {g.previous_requests} | {g.requests} | {_n(g.gco2e / 1000, 4)} |"
                  for g in report.growing]
    else:
        lines.append(t("growth_none"))
    lines += ["", f"## {t('review')}", ""]
    if report.due:
        lines += [f"| {t('use_case')} | {t('status')} | {t('next_review')} |", "|---|---|---|"]
        lines += [f"| {d.record.id} | {d.record.lifecycle.status} | "
                  f"{d.record.lifecycle.next_review or t('never')} |" for d in report.due]
    else:
        lines.append(t("review_none"))
    return "\n".join(lines) + "\n"


def _csv_market(f: Figures) -> str:
    """Market-based gCO2e for a CSV cell: empty when not available."""
    return "" if f.gco2e_market is None else f"{f.gco2e_market:.6f}"


def render_csv(report: Report) -> str:
    """One row per use case (published cells), the suppressed remainder and the month total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", "use_case", "requests", "input_tokens", "output_tokens", "cost_eur", "energy_wh",
                     "gco2e_location", "gco2e_market", "water_ml"])

    def row(name: str, f: Figures) -> None:
        writer.writerow([report.month, name, f.requests, f.input_tokens, f.output_tokens, f"{f.cost_eur:.6f}",
                         f"{f.energy_wh:.6f}", f"{f.gco2e:.6f}", _csv_market(f), f"{f.water_ml:.6f}"])

    for use_case, figures in sorted(report.by_use_case.items()):
        row(use_case, figures)
    if report.usage.totals_publishable:
        if report.usage.suppressed_cells:
            row("(suppressed)", report.usage.remainder)
        row("(total)", report.usage.total)
    return out.getvalue()


async def _run(month: str, out: Path, language: str) -> tuple[Path, Path]:
    from estimators.hosted import HostedEstimator
    from gateway.ledger.audit import AuditLog
    from gateway.ledger import db
    from gateway.settings import get_settings

    settings = get_settings()
    await db.upgrade(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    try:
        register = Register(engine, AuditLog(engine, settings.effective_audit_key()))
        aggregator = UsageAggregator(engine, settings.k_anonymity)
        report = await build_report(engine, register, aggregator, Catalogue.load(settings.catalogue_path), month,
                                    HostedEstimator())
    finally:
        await engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    markdown, table = out / f"sobria-report-{month}.md", out / f"sobria-report-{month}.csv"
    markdown.write_text(render_markdown(report, language), encoding="utf-8")
    table.write_text(render_csv(report), encoding="utf-8")
    return markdown, table


def report_command(
    month: Annotated[str, typer.Option(help="The month to report, YYYY-MM")],
    out: Annotated[Optional[Path], typer.Option(help="Directory for the files (default: data_dir/reports)")] = None,
    language: Annotated[str, typer.Option(help="en or fr")] = "en",
) -> None:
    """Write the monthly CSR report (Markdown and CSV) from the ledger and the register."""
    from gateway.settings import get_settings

    try:
        month_range(month)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM", param_hint="--month") from exc
    folder = out or get_settings().data_dir / "reports"
    for path in asyncio.run(_run(month, folder, language)):
        typer.echo(str(path))


def due_date(month: str) -> date:
    """The last day of the month after `month`: use cases to review before then are listed."""
    _, end = month_range(month)
    return (end + timedelta(days=31)).date().replace(day=1) - timedelta(days=1)
