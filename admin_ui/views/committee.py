"""Committee pages: the use-case inventory, one use case, lifecycle decisions, aggregated usage.

Everything is read from the inventory service (the typed `InventoryDep`): the register
for records and history, and its k-anonymous aggregator for usage, so a figure the
JSON API would suppress is never shown here either.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from admin_ui import register_form
from gateway.i18n import formatting
from admin_ui.charts import stacked_bars
from admin_ui.views.errors import not_found
from admin_ui.web import (
    SECURITY_HEADERS,
    UiRoute,
    Visitor,
    form_data,
    redirect,
    render,
    visitor,
)
from contracts.errors import DomainError
from gateway.edge.errors import GatewayError, from_domain
from gateway.i18n import translate
from gateway.inventory import exchange
from gateway.inventory.classification import (
    Answers,
    Domain,
    ProhibitedPractice,
    Proposal,
    Reason,
)
from gateway.inventory.drift import drift
from gateway.inventory.lifecycle import allowed, missing_for_approval, serves
from gateway.inventory.model import STATUSES, StoredUseCase
from gateway.inventory.service import Inventory
from gateway.inventory.usage import DIMENSIONS, Figures, month_range, previous_month
from gateway.inventory.views import HiddenGroup
from gateway.edge.dependencies import InventoryDep, PolicyEngineDep

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
DOMAINS: tuple[str, ...] = get_args(Domain)
PRACTICES: tuple[str, ...] = get_args(ProhibitedPractice)
TREND_MONTHS = 6



def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _months_back(count: int) -> list[str]:
    months = [_this_month()]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return months


@router.get("/use-cases")
async def inventory_page(
    request: Request, inventory: InventoryDep,
    status: str = "",
    risk: str = "",
    q: str = "",
    sort: str = "id",
    who: Visitor = Depends(visitor),
) -> Response:
    who.require("committee")
    found = await inventory.register.list(
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
async def register_csv(request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    """The whole register as CSV, in the inventory's own exchange format."""
    who.require("committee")
    records = [s.record for s in await inventory.register.list()]
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="sobria-use-cases.csv"'}
    return PlainTextResponse(exchange.dump(records, "csv"), media_type="text/csv; charset=utf-8", headers=headers)


async def _trend(inventory: Inventory, use_case_id: str) -> list[tuple[str, Figures | None, HiddenGroup | None]]:
    """This use case's published figures per month: (month, figures or None, why hidden)."""
    trend: list[tuple[str, Figures | None, HiddenGroup | None]] = []
    for month in _months_back(TREND_MONTHS):
        view = (await inventory.views.month(month, ["use_case"]))["use_case"]
        row, hidden = view.row(use_case_id), view.hidden_reason(use_case_id)
        trend.append((month, row.figures if row else (None if hidden else Figures()), hidden))
    return trend


def _field_labels(paths: list[str], lang: str) -> list[str]:
    return [translate(f"register.field.{path}", lang) for path in paths]


def _error_words(error: GatewayError, lang: str) -> tuple[str, list[str]]:
    """A register refusal in words: the message, and the fields it names by their labels."""
    if error.code == "approval_incomplete":
        missing = [m.strip() for m in str(error.params.get("missing", "")).split(",") if m.strip()]
        return translate("ui.uc.cannot_approve", lang), _field_labels(missing, lang)
    if error.code == "transition_not_allowed":
        return translate("ui.uc.not_allowed", lang, current=translate("ui.status." + str(error.params["current"]), lang),
                         target=translate("ui.status." + str(error.params["target"]), lang)), []
    if error.code == "decision_required":
        return translate("ui.uc.decision_required", lang,
                         target=translate("ui.status." + str(error.params.get("target")), lang)), []
    return error.message(lang), []


async def _use_case_page(request: Request, inventory: Inventory, who: Visitor, use_case_id: str,
                         error: str | None = None, status_code: int = 200, error_fields: list[str] | None = None,
                         proposal: Proposal | None = None) -> Response:
    stored = await inventory.register.require(use_case_id)
    trend = await _trend(inventory, use_case_id)
    lang = who.lang

    def grams(micro: float) -> str:
        return formatting.quantity(micro / 1_000_000, lang) + " g"

    chart = stacked_bars(
        [formatting.month(m, lang) for m, _, _ in trend], {"gCO2e": [f.gwp_ug if f else 0 for _, f, _ in trend]},
        grams, height=180, hidden=[f is None for _, f, _ in trend],
        hidden_title=translate("ui.hidden.chart", lang, k=inventory.usage.k), unit=translate("ui.unit.gco2e", lang),
        axis_label=lambda micro: formatting.plain(micro / 1_000_000, lang),
    )
    record = stored.record
    return render(
        request, who, "committee/use_case.html", status_code=status_code,
        stored=stored, record=record, history=await inventory.register.history(use_case_id),
        trend=trend, chart=chart, error=error, error_fields=error_fields or [], k=inventory.usage.k,
        targets=_targets(stored), sections=register_form.SECTIONS, values=register_form.values_of(record),
        missing=_field_labels(missing_for_approval(record), lang), domains=DOMAINS, practices=PRACTICES,
        risks=RISK_CLASSES, proposal=proposal, serves=serves(record.lifecycle.status, record.lifecycle.provisional),
        default_review=(datetime.now(UTC).date() + timedelta(days=365)).isoformat(),
    )


def _targets(stored: StoredUseCase) -> list[str]:
    lifecycle = stored.record.lifecycle
    return [target for target in STATUSES if allowed(lifecycle.status, target, lifecycle.provisional)]


def _shown_proposal(record: Any, query: Any) -> Proposal | None:
    """After a classification (post/redirect/get): the stored proposal, with the point and practices it named."""
    if query.get("classified") != "1" or record.risk.proposed_class is None:
        return None
    point = query.get("point", "")[:16] or record.risk.annex_iii_point or ""
    practices = ", ".join(p for p in query.get("practices", "").split(",") if p in PRACTICES)
    reasons = tuple(Reason(key, {"point": point, "practices": practices}) for key in record.risk.proposal_reasons)
    return Proposal(record.risk.proposed_class, point or None, record.risk.profiling, bool(point), reasons)


@router.get("/use-cases/{use_case_id}")
async def use_case_page(use_case_id: str, request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    try:
        if request.query_params.get("classified"):
            stored = await inventory.register.require(use_case_id)
            shown = _shown_proposal(stored.record, request.query_params)
            return await _use_case_page(request, inventory, who, use_case_id, proposal=shown)
        return await _use_case_page(request, inventory, who, use_case_id)
    except (GatewayError, DomainError) as caught:
        error = caught if isinstance(caught, GatewayError) else from_domain(caught)
        return not_found(request, who) if error.status == 404 else render(
            request, who, "error.html", status_code=error.status, message_key="ui.error.forbidden")


def _form_page(request: Request, who: Visitor, stored: StoredUseCase | None, values: dict[str, Any],
               use_case_id: str = "", error_fields: list[str] | None = None, error: str | None = None,
               status_code: int = 200) -> Response:
    return render(request, who, "committee/edit.html", status_code=status_code, stored=stored,
                  sections=register_form.SECTIONS, values=values, use_case_id=use_case_id,
                  error=error, error_fields=error_fields or [], error_labels=_field_labels(error_fields or [], who.lang))


@router.get("/use-cases-new")
async def new_use_case_page(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    return _form_page(request, who, None, register_form.values_of(None))


@router.post("/use-cases-new")
async def create_use_case(request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    principal = who.require("committee")
    form = await form_data(request, who)
    use_case_id = form.get("id", "").strip()
    values = {path: form.get(spec.name, "") for path, spec in register_form.FIELDS.items()}
    try:
        record = register_form.record_from_form(form, use_case_id, None)
        await inventory.register.create(record, principal.employee_id)
    except register_form.FormErrors as errors:
        return _form_page(request, who, None, values, use_case_id, errors.paths, status_code=422)
    except (GatewayError, DomainError) as caught:
        error = caught if isinstance(caught, GatewayError) else from_domain(caught)
        return _form_page(request, who, None, values, use_case_id, error=_error_words(error, who.lang)[0],
                          status_code=error.status)
    await inventory.changed()
    return redirect(request, who, f"/ui/committee/use-cases/{record.id}")


@router.get("/use-cases/{use_case_id}/edit")
async def edit_use_case_page(use_case_id: str, request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    stored = await inventory.register.get(use_case_id)
    if stored is None:
        return not_found(request, who)
    return _form_page(request, who, stored, register_form.values_of(stored.record), use_case_id)


@router.post("/use-cases/{use_case_id}/edit")
async def edit_use_case(use_case_id: str, request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    principal = who.require("committee")
    form = await form_data(request, who)
    stored = await inventory.register.get(use_case_id)
    if stored is None:
        return not_found(request, who)
    values = {path: form.get(spec.name, "") for path, spec in register_form.FIELDS.items()}
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    try:
        record = register_form.record_from_form(form, use_case_id, stored.record)
        await inventory.register.update(use_case_id, record, principal.employee_id, version)
    except register_form.FormErrors as errors:
        return _form_page(request, who, stored, values, use_case_id, errors.paths, status_code=422)
    except (GatewayError, DomainError) as caught:
        error = caught if isinstance(caught, GatewayError) else from_domain(caught)
        return _form_page(request, who, stored, values, use_case_id, error=_error_words(error, who.lang)[0],
                          status_code=error.status)
    return redirect(request, who, f"/ui/committee/use-cases/{use_case_id}")


@router.post("/use-cases/{use_case_id}/classify")
async def classify(use_case_id: str, request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    """Run the guided classification; with a confirmed class and rationale, record the committee's decision."""
    principal = who.require("committee")
    form = await form_data(request, who)
    try:
        answers = Answers.model_validate({
            "domain": form.get("domain", "none") if form.get("domain") in DOMAINS else "none",
            "decides_about_people": "decides_about_people" in form, "profiling": "profiling" in form,
            "narrow_procedural_task": "narrow_procedural_task" in form,
            "practices": [p for p in PRACTICES if f"practice_{p}" in form],
            "interacts_with_people": "interacts_with_people" in form,
            "publishes_generated_content": "publishes_generated_content" in form,
        })
        confirm = form.get("confirm_class", "")
        _, proposal = await inventory.register.classify(
            use_case_id, answers, principal.employee_id, confirm if confirm in RISK_CLASSES else None,  # type: ignore[arg-type]
            form.get("rationale", ""), form.get("annex_iii_point", "").strip() or None)
    except (GatewayError, DomainError) as caught:
        error = caught if isinstance(caught, GatewayError) else from_domain(caught)
        if error.status == 404:
            return not_found(request, who)
        message, fields = _error_words(error, who.lang)
        return await _use_case_page(request, inventory, who, use_case_id, message, error.status, fields)
    query = urlencode({"classified": "1", "point": proposal.annex_iii_point or "", "practices": ",".join(answers.practices)})
    return redirect(request, who, f"/ui/committee/use-cases/{use_case_id}?{query}#proposal")


@router.post("/use-cases/{use_case_id}/decision")
async def decide(use_case_id: str, request: Request, inventory: InventoryDep, who: Visitor = Depends(visitor)) -> Response:
    """Move the use case to another status, with a decision text, conditions and a review date."""
    principal = who.require("committee")
    form = await form_data(request, who)
    target = form.get("target", "")
    if target not in STATUSES:
        return await _use_case_page(request, inventory, who, use_case_id, translate("ui.decision.unknown", who.lang), 422)
    conditions = [line.strip() for line in form.get("conditions", "").splitlines() if line.strip()]
    try:
        review = date.fromisoformat(form["next_review"]) if form.get("next_review") else None
    except ValueError:
        return await _use_case_page(request, inventory, who, use_case_id, translate("ui.uc.bad_date", who.lang), 422)
    try:
        version = int(form["version"]) if form.get("version", "").isdigit() else None
        await inventory.register.transition(use_case_id, target, principal.employee_id, form.get("comment", "").strip(),
                                            conditions or None, review, version)
    except (GatewayError, DomainError) as caught:
        error = caught if isinstance(caught, GatewayError) else from_domain(caught)
        if error.status == 404:
            return not_found(request, who)
        message, fields = _error_words(error, who.lang)
        return await _use_case_page(request, inventory, who, use_case_id, message, error.status, fields)
    await inventory.changed()
    return redirect(request, who, f"/ui/committee/use-cases/{use_case_id}")


@router.get("/drift")
async def drift_page(request: Request, inventory: InventoryDep, policy_engine: PolicyEngineDep, who: Visitor = Depends(visitor)) -> Response:
    """Where the routing policy and the register disagree, in words."""
    who.require("committee")
    found = drift(policy_engine.policy.use_cases, await inventory.register.statuses())
    return render(request, who, "committee/drift.html", drift=[(d.use_case, d.render(who.lang)) for d in found])


def _query(month: str, by: str) -> tuple[str, str]:
    try:
        month_range(month)
    except ValueError:
        month = _this_month()
    return month, by if by in DIMENSIONS else "use_case"


def _hidden_label(hidden: HiddenGroup, k: int, lang: str) -> str:
    """Why a group is not shown, exactly."""
    if hidden.kind == "complementary":
        _, view, key = hidden.reason.split(":", 2)
        if view == "total":
            return translate("ui.hidden.complementary_total", lang, k=k)
        return translate("ui.hidden.complementary", lang, k=k, group=key, view=translate(f"ui.dimension.{view}", lang))
    return translate(f"ui.hidden.{hidden.kind}", lang, k=k)


@router.get("/usage")
async def usage_page(request: Request, inventory: InventoryDep, month: str = "", by: str = "use_case", who: Visitor = Depends(visitor)) -> Response:
    who.require("committee")
    month, by = _query(month or _this_month(), by)
    view = (await inventory.views.month(month))[by]
    lang = who.lang

    def grams(micro: float) -> str:
        return formatting.quantity(micro / 1_000_000, lang)

    chart = stacked_bars([r.key for r in view.rows], {"gCO2e": [r.figures.gwp_ug for r in view.rows]}, grams,
                         height=200, unit=translate("ui.unit.gco2e", lang),
                         axis_label=lambda micro: formatting.plain(micro / 1_000_000, lang))
    hidden = [(h.key, _hidden_label(h, view.k, lang)) for h in view.hidden]
    return render(request, who, "committee/usage.html", month=month, by=by, dimensions=DIMENSIONS,
                  months=_months_back(12), view=view, hidden=hidden, chart=chart, k=view.k)


@router.get("/usage.csv")
async def usage_csv(request: Request, inventory: InventoryDep, month: str = "", by: str = "use_case", who: Visitor = Depends(visitor)) -> Response:
    """The same view as the page, as CSV (hidden groups only inside one remainder line, when it may be shown)."""
    who.require("committee")
    month, by = _query(month or _this_month(), by)
    view = (await inventory.views.month(month))[by]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", by, "requests", "distinct_users", "input_tokens", "output_tokens", "cost_eur",
                     "energy_wh", "gco2e_location_g", "gco2e_market_g", "water_ml"])

    def line(name: str, f: Figures, users: int | str) -> None:
        writer.writerow([month, name, f.requests, users, f.input_tokens, f.output_tokens, f"{f.cost_eur:.6f}",
                         f"{f.energy_wh:.6f}", f"{f.gco2e:.6f}",
                         "" if f.gco2e_market is None else f"{f.gco2e_market:.6f}", f"{f.water_ml:.6f}"])

    for row in view.rows:
        line(row.key, row.figures, row.users)
    if view.remainder is not None:
        line("(hidden groups together)", view.remainder, view.remainder_users)
    if view.total is not None:
        line("(total)", view.total, view.total_users)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="sobria-usage-{month}-by-{by}.csv"'}
    return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
