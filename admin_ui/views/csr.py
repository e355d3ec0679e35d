"""The CSR director's page: the monthly or annual report in the page, and as PDF, Markdown or CSV.

The page and the downloads render the same `CsrReport` (gateway.inventory.csr), which
the CLI (`sobria csr-report`) builds too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.i18n import formatting
from admin_ui.charts import stacked_bars
from admin_ui.web import SECURITY_HEADERS, UiRoute, Visitor, render, visitor
from gateway.edge.dependencies import CatalogueDep, EngineDep, InventoryDep
from gateway.i18n import translate
from gateway.inventory.service import Inventory
from gateway.providers.catalogue import Catalogue
from gateway.inventory.csr import CsrReport, build_csr_report, months_of
from gateway.inventory.csr_render import (
    Series,
    document,
    render_csv,
    render_markdown,
    render_pdf,
)

router = APIRouter(prefix="/csr", route_class=UiRoute)
FORMATS = {"pdf": "application/pdf", "md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def _period(value: str) -> str:
    try:
        months_of(value)
        return value
    except ValueError:
        return datetime.now(UTC).strftime("%Y-%m")


def _choices(now: datetime) -> list[str]:
    months, year, month = [], now.year, now.month
    for _ in range(12):
        months.append(f"{year}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return [str(now.year), str(now.year - 1), *months]


async def _report(engine: AsyncEngine, inventory: Inventory, catalogue: Catalogue, period: str) -> CsrReport:
    return await build_csr_report(engine, inventory.views, catalogue, period)


@router.get("")
async def csr_page(request: Request, engine: EngineDep, inventory: InventoryDep, catalogue: CatalogueDep, period: str = "",
                   who: Visitor = Depends(visitor)) -> Response:
    who.require("csr")
    chosen = _period(period or datetime.now(UTC).strftime("%Y-%m"))
    report = await _report(engine, inventory, catalogue, chosen)
    lang = who.lang
    doc = document(report, lang)
    trend = next(b for b in doc.blocks if isinstance(b, Series))
    chart = stacked_bars(trend.labels, {"gCO2e": [v * 1_000_000 if v else 0 for v in trend.values]},
                         lambda micro: formatting.quantity(micro / 1_000_000, lang), height=200,
                         hidden=[v is None for v in trend.values], hidden_title=translate("csr.hidden_short", lang),
                         unit=translate("csr.unit_g", lang),
                         axis_label=lambda micro: formatting.plain(micro / 1_000_000, lang))
    now = datetime.now(UTC)
    return render(request, who, "csr.html", doc=doc, chart=chart, period=chosen, choices=_choices(now),
                  formats=list(FORMATS))


@router.get("/report.{extension}")
async def csr_download(extension: str, request: Request, engine: EngineDep, inventory: InventoryDep, catalogue: CatalogueDep,
                       period: str = "", who: Visitor = Depends(visitor)) -> Response:
    who.require("csr")
    if extension not in FORMATS:
        from admin_ui.views.errors import not_found

        return not_found(request, who)
    chosen = _period(period or datetime.now(UTC).strftime("%Y-%m"))
    report = await _report(engine, inventory, catalogue, chosen)
    body = {"pdf": lambda: render_pdf(report, who.lang), "md": lambda: render_markdown(report, who.lang).encode(),
            "csv": lambda: render_csv(report).encode()}[extension]()
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="sobria-csr-{chosen}.{extension}"'}
    return Response(body, media_type=FORMATS[extension], headers=headers)
