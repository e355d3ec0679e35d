"""The ledger record of one request, built from its flight: never any prompt or completion text.

`LedgerRecord` is what the request path hands on: the pipeline builds it, telemetry
and metrics read it by attribute, and `LedgerRecord.row()` is the one place it becomes
a `usage_records` row (the form the writer queues, spools and inserts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from estimators.impacts import Impacts
from gateway.request.flight import Flight


@dataclass(frozen=True, slots=True)
class ImpactColumns:
    """The impact columns of a ledger row (also what a restatement rewrites): CO2e in micro-grams."""

    gwp_ug: int = 0
    gwp_g_min: float = 0.0
    gwp_g_max: float = 0.0
    gwp_market_ug: int | None = None
    energy_wh: float = 0.0
    energy_wh_min: float = 0.0
    energy_wh_max: float = 0.0
    water_ml: float = 0.0
    adpe_kgsbeq: float = 0.0
    pe_mj: float = 0.0
    impact_method: str | None = None
    factor_set_version: str | None = None
    impact_source: str | None = None
    impacts_detail: dict[str, Any] | None = None
    catalogue_version: str | None = None
    impact_inputs: dict[str, Any] | None = None
    impact_warnings: str | None = None

    @classmethod
    def of(cls, impacts: Impacts | None) -> ImpactColumns:
        """The columns of an estimate; all zero (no method) when there is none."""
        if impacts is None:
            return cls()
        total = impacts.total
        market = impacts.gwp_market_g
        detail = impacts.as_dict()
        inputs = detail.pop("inputs", None)
        return cls(
            gwp_ug=round(total.gwp_g.value * 1_000_000),
            gwp_g_min=total.gwp_g.min,
            gwp_g_max=total.gwp_g.max,
            gwp_market_ug=round(market.value * 1_000_000) if market is not None else None,
            energy_wh=total.energy_wh.value,
            energy_wh_min=total.energy_wh.min,
            energy_wh_max=total.energy_wh.max,
            water_ml=total.water_ml.value,
            adpe_kgsbeq=total.adpe_kgsbeq.value,
            pe_mj=total.pe_mj.value,
            impact_method=impacts.method_id,
            factor_set_version=impacts.factor_set_version,
            impact_source=impacts.source,
            impacts_detail=impact_detail(impacts),
            catalogue_version=(inputs or {}).get("profile", {}).get("catalogue_version"),
            impact_inputs=inputs,
            impact_warnings=",".join(impacts.warning_codes)[:500] or None,
        )

    def row(self) -> dict[str, Any]:
        """The columns by name (shallow: the detail dicts are the record's own)."""
        return {column.name: getattr(self, column.name) for column in fields(self)}


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One request as the ledger keeps it: money in micro-euros, CO2e in micro-grams."""

    request_id: str
    started_at: datetime
    finished_at: datetime
    employee_pseudonym: str
    department: str | None
    roles: str
    key_id: str
    use_case: str
    requested_model: str
    served_model: str | None
    rule_id: str | None
    policy_version: str | None
    classifier_confidence: float | None
    classifier_runner_up: str | None
    classifier_runner_up_confidence: float | None
    classifier_low_confidence: bool | None
    status: str
    http_status: int
    stream: bool
    demo: bool
    input_tokens: int
    output_tokens: int
    max_tokens: int | None
    latency_ms: float
    ttft_ms: float | None
    cost_micro_eur: int
    error_message: str | None
    usage_source: str | None
    impacts: ImpactColumns = field(default_factory=ImpactColumns)

    @property
    def energy_wh(self) -> float:
        return self.impacts.energy_wh

    @property
    def gwp_ug(self) -> int:
        return self.impacts.gwp_ug

    def row(self) -> dict[str, Any]:
        """The `usage_records` row: the one mapping from this record to the table's columns."""
        columns = {column.name: getattr(self, column.name) for column in fields(self) if column.name != "impacts"}
        return {**columns, **self.impacts.row()}


def usage_record(
    flight: Flight,
    status: str,
    http_status: int,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost_micro_eur: int = 0,
    impacts: Impacts | None = None,
    error: str | None = None,
) -> LedgerRecord:
    """The ledger record of a flight that ended with `status` (clamped usage is warned on the row)."""
    decision, spec = flight.decision, flight.spec
    columns = ImpactColumns.of(impacts)
    if flight.usage_source == "clamped":
        warnings = ",".join(filter(None, (columns.impact_warnings, "provider-usage-clamped")))[:500]
        columns = replace(columns, impact_warnings=warnings)
    return LedgerRecord(
        request_id=flight.request_id,
        started_at=flight.started_at,
        finished_at=datetime.now(UTC),
        employee_pseudonym=flight.principal.pseudonym,
        department=flight.principal.department,
        roles=",".join(sorted(flight.principal.roles)),
        key_id=flight.principal.key_id,
        use_case=decision.use_case if decision else (flight.request.use_case or "unresolved"),
        requested_model=flight.request.model[:128],
        served_model=flight.served or (spec.name if spec else None),
        rule_id=decision.rule_id if decision else None,
        policy_version=decision.policy_version if decision else None,
        classifier_confidence=decision.classifier_confidence if decision else None,
        classifier_runner_up=decision.classifier_runner_up if decision else None,
        classifier_runner_up_confidence=decision.classifier_runner_up_confidence if decision else None,
        classifier_low_confidence=(
            decision.low_confidence if decision and decision.classifier_confidence is not None else None
        ),
        status=status,
        http_status=http_status,
        stream=flight.request.stream,
        demo=bool(spec and spec.is_demo),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        max_tokens=flight.max_tokens,
        latency_ms=(time.perf_counter() - flight.started) * 1000,
        ttft_ms=flight.ttft_ms,
        cost_micro_eur=cost_micro_eur,
        error_message=error[:500] if error else None,
        usage_source=flight.usage_source,
        impacts=columns,
    )


def impact_columns(impacts: Impacts | None) -> dict[str, Any]:
    """The impact columns of a ledger row by name (what a restatement rewrites)."""
    return ImpactColumns.of(impacts).row()


def impact_detail(impacts: Impacts) -> dict[str, Any]:
    """What of an estimate the row's own columns cannot give back: the usage and embodied
    phases (the total is their sum, already in columns with the method and factor-set
    ids), the zone, warnings and the estimator's extras. Each range is
    [value, min, max] at 6 significant digits."""
    def phase(criteria: Any) -> dict[str, list[float]]:
        return {name: [float(f"{r['value']:.6g}"), float(f"{r['min']:.6g}"), float(f"{r['max']:.6g}")]
                for name, r in criteria.as_dict().items()}

    detail: dict[str, Any] = {"usage": phase(impacts.usage), "embodied": phase(impacts.embodied),
                              "zone": impacts.zone}
    if impacts.warnings:
        detail["warnings"] = list(impacts.warnings)
    detail.update({k: v for k, v in impacts.extra.items() if k != "inputs"})  # inputs have their own column
    return detail
