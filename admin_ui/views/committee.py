"""Committee pages: the use-case inventory, one use case, lifecycle decisions, aggregated usage.

Everything is read from the inventory service (`app.state.inventory`): the register
for records and history, and its k-anonymous aggregator for usage, so a figure the
JSON API would suppress is never shown here either.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from admin_ui import formatting
from admin_ui.charts import stacked_bars
from admin_ui.web import SECURITY_HEADERS, UiRoute, Visitor, form_data, redirect, render, visitor
from contracts.errors import DomainError
from gateway.errors import GatewayError, status_of
from gateway.i18n import translate
from gateway.inventory import exchange
from gateway.inventory.lifecycle import allowed
from gateway.inventory.model import STATUSES, StoredUseCase
from gateway.inventory.service import Inventory
from gateway.inventory.usage import DIMENSIONS, Figures, month_range, previous_month, roll_up

router = APIRouter(prefix="/committee", route_class=UiRoute)
RISK_CLASSES = ("prohibited", "high", "limited", "minimal", "unclassified")
SORTS = {
    "id": lambda s: s.record.id,
    "name": lambda s: s.record.identity.name.lower(),
    "status": lambda s: s.record.lifecycle.status,
    "risk": lambda s: RISK_CLASSES.index(s.record.risk.ai_act_class),
    "department": lambda s: s.record.identity.department,
    "updated": lambda s: s.updated_at,
}
DECISIONS = {"approve": "approved", "suspend": "suspended", "retire": "retired"}
TREND_MONTHS = 6


def _inventory(request: Request) -> Inventory:
    return request.app.state.inventory


def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _months_back(count: int) -> list[str]:
    months = [_this_month()]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return months


@router.get("/use-cases")
async def inventory_page(
    request: Request,
    status: str = "",
    risk: str = "",
    q: str = "",
    sort: str = "id",
    who: Visitor = Depends(visitor),
) -> Response:
    who.require("committee")
    found = await _inventory(request).register.list(
        status if status in STATUSES else None, None, risk if risk in RISK_CLASSES else None
    )
    needle = q.strip().lower()
    if needle:
        found = [s for s in found if needle in s.record.id or needle in s.record.identity.name.lower()
                 or needle in s.record.identity.owner.lower()]
    key = sort if sort in SORTS else "id"
    found.sort(key=SORTS[key])
    return render(
        request, who, "committee/use_cases.html",
        use_cases=found, statuses=STATUSES, risks=RISK_CLASSES,
        filters={"status": status, "risk": risk, "q": q}, sort=key, sorts=list(SORTS),
    )


@router.get("/use-cases.csv")
async def register_csv(request: Request, who: Visitor = Depends(visitor)) -> Response:
    """The whole register as CSV, in the inventory's own exchange format."""
    who.require("committee")
    records = [s.record for s in await _inventory(request).register.list()]
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="sobria-use-cases.csv"'}
    return PlainTextResponse(exchange.dump(records, "csv"), media_type="text/csv; charset=utf-8", headers=headers)


async def _trend(inventory: Inventory, use_case_id: str) -> list[tuple[str, Figures | None]]:
    """This use case's published figures per month (None when its cells were all suppressed)."""
    trend: list[tuple[str, Figures | None]] = []
    for month in _months_back(TREND_MONTHS):
        data = await inventory.usage.month(month)
        mine = [c for c in data.cells if c.use_case == use_case_id]
        published = roll_up(mine, ["use_case"]).get((use_case_id,))
        trend.append((month, Figures() if not mine else published))
    return trend


async def _use_case_page(request: Request, who: Visitor, use_case_id: str, error: str | None = None,
                         status_code: int = 200) -> Response:
    inventory = _inventory(request)
    stored = await inventory.register.require(use_case_id)
    trend = await _trend(inventory, use_case_id)
    lang = who.lang

    def grams(micro: float) -> str:
        return formatting.quantity(micro / 1_000_000, lang)

    chart = stacked_bars(
        [month for month, _ in trend], {"gCO2e": [f.gwp_ug if f else 0 for _, f in trend]}, grams, height=180
    )
    return render(
        request, who, "committee/use_case.html", status_code=status_code,
        stored=stored, record=stored.record, history=await inventory.register.history(use_case_id),
        trend=trend, chart=chart, error=error, k=inventory.usage.k,
        decisions=_decisions(stored),
    )


def _decisions(stored: StoredUseCase) -> list[str]:
    return [name for name, target in DECISIONS.items() if allowed(stored.record.lifecycle.status, target)]


@router.get("/use-cases/{use_case_id}")
async def use_case_page(use_case_id: str, request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    try:
        return await _use_case_page(request, who, use_case_id)
    except GatewayError as error:
        return render(request, who, "error.html", status_code=error.status, message_key="ui.error.not_found")


@router.post("/use-cases/{use_case_id}/decision")
async def decide(use_case_id: str, request: Request, who: Visitor = Depends(visitor)) -> Response:
    """Approve, suspend or retire with a comment; the register enforces what is allowed."""
    principal = who.require("committee")
    form = await form_data(request, who)
    target = DECISIONS.get(form.get("decision", ""))
    comment = form.get("comment", "").strip()
    inventory = _inventory(request)
    if target is None:
        return await _use_case_page(request, who, use_case_id, translate("ui.decision.unknown", who.lang), 422)
    try:
        version = int(form["version"]) if form.get("version", "").isdigit() else None
        await inventory.register.transition(use_case_id, target, principal.employee_id, comment, None, None, version)
    except (GatewayError, DomainError) as error:
        message = translate(error.message_key, who.lang, **error.params)
        return await _use_case_page(request, who, use_case_id, message, status_of(error))
    await inventory.changed()
    return redirect(request, who, f"/ui/committee/use-cases/{use_case_id}")


async def _aggregate(inventory: Inventory, month: str, by: str) -> dict[str, Any]:
    """Roll-up of the month's published cells by one dimension, plus the suppressed remainder."""
    data = await inventory.usage.month(month)
    groups = []
    for key, figures in sorted(roll_up(data.cells, [by]).items()):
        members = [c for c in data.published if getattr(c, by) == key[0]]
        groups.append((key[0], figures, await inventory.usage.distinct_users(month, members)))
    remainder = data.remainder if data.suppressed_cells and data.totals_publishable else None
    total = data.total if data.totals_publishable else None
    return {"groups": groups, "remainder": remainder, "suppressed_cells": data.suppressed_cells,
            "remainder_users": data.remainder_users, "total": total, "total_users": data.total_users, "k": data.k}


def _query(month: str, by: str) -> tuple[str, str]:
    try:
        month_range(month)
    except ValueError:
        month = _this_month()
    return month, by if by in DIMENSIONS else "department"


@router.get("/usage")
async def usage_page(request: Request, month: str = "", by: str = "department", who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    month, by = _query(month or _this_month(), by)
    aggregate = await _aggregate(_inventory(request), month, by)
    return render(request, who, "committee/usage.html", month=month, by=by, dimensions=DIMENSIONS,
                  months=_months_back(12), **aggregate)


@router.get("/usage.csv")
async def usage_csv(request: Request, month: str = "", by: str = "department", who: Visitor = Depends(visitor)) -> Response:
    """The same aggregate as the page, as CSV (suppressed cells only as one remainder line)."""
    who.require("committee")
    month, by = _query(month or _this_month(), by)
    aggregate = await _aggregate(_inventory(request), month, by)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", by, "requests", "distinct_users", "input_tokens", "output_tokens", "cost_eur",
                     "energy_wh", "gco2e_g", "water_ml"])

    def line(name: str, f: Figures, users: int | str) -> None:
        writer.writerow([month, name, f.requests, users, f.input_tokens, f.output_tokens, f"{f.cost_eur:.6f}",
                         f"{f.energy_wh:.6f}", f"{f.gco2e:.6f}", f"{f.water_ml:.6f}"])

    for name, figures, users in aggregate["groups"]:
        line(name, figures, users)
    if aggregate["remainder"] is not None:
        line("(suppressed)", aggregate["remainder"], aggregate["remainder_users"])
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="sobria-usage-{month}-by-{by}.csv"'}
    return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
