"""Re-decide recorded requests under a candidate policy and project cost and CO2e changes.

Only the ledger's metadata is used (use case, department, roles, requested model,
token counts, time): no prompt text is stored, so the classifier is never consulted
and each request keeps the use case it was recorded with. Unchanged requests keep
their recorded cost and CO2e; changed ones are re-priced from the catalogue, and their
recorded CO2e is scaled by the hosted estimator's ratio between the new and the served
model (output tokens clipped to a new cap).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from contracts.catalogue import ModelSpec
from policies.decision import PolicyDenied, RoutingRequest
from policies.engine import PolicyEngine
from policies.frugality import Estimate, FrugalityMeter, FrugalityReport, Served, add_amounts, hosted_estimate

GwpEstimate = Callable[[ModelSpec, int, int], float]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """The recorded metadata of one served request."""

    started_at: datetime
    use_case: str
    department: str
    roles: frozenset[str]
    requested_model: str
    served_model: str
    input_tokens: int
    output_tokens: int
    max_tokens: int | None
    cost_micro_eur: int
    gwp_ug: int


@dataclass(slots=True)
class Totals:
    """Counts and sums for one group of requests (costs in micro-euros, CO2e in micro-grams)."""

    requests: int = 0
    changed: int = 0
    denied: int = 0
    cost_before: int = 0
    cost_after: int = 0
    gwp_before: int = 0
    gwp_after: int = 0

    def add(self, changed: bool, denied: bool, cost: tuple[int, int], gwp: tuple[int, int]) -> None:
        add_amounts(
            self, requests=1, changed=int(changed), denied=int(denied),
            cost_before=cost[0], cost_after=cost[1], gwp_before=gwp[0], gwp_after=gwp[1],
        )


@dataclass(slots=True)
class ReplayReport:
    policy_version: str
    policy_label: str
    since: datetime | None
    overall: Totals = field(default_factory=Totals)
    per_use_case: dict[str, Totals] = field(default_factory=dict)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    frugality: FrugalityReport | None = None

    def as_dict(self) -> dict:
        return {
            "frugality": self.frugality.as_dict() if self.frugality else None,
            "policy_version": self.policy_version,
            "policy_label": self.policy_label,
            "since": self.since.isoformat() if self.since else None,
            "overall": asdict(self.overall),
            "per_use_case": {k: asdict(v) for k, v in sorted(self.per_use_case.items())},
            "transitions": [
                {"from": a, "to": b, "requests": n} for (a, b), n in sorted(self.transitions.items())
            ],
        }

    def render(self) -> str:
        """Plain-text report for the terminal."""
        o = self.overall
        since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        lines = [
            f"Replay under policy {self.policy_version} ({self.policy_label or 'no label'}): "
            f"{o.requests} requests{since}",
            f"  change model: {o.changed} ({_pct(o.changed, o.requests)}), newly denied: {o.denied}",
            f"  cost:  {_eur(o.cost_before)} -> {_eur(o.cost_after)} EUR ({_delta(o.cost_before, o.cost_after, _eur)})",
            f"  CO2e:  {_g(o.gwp_before)} -> {_g(o.gwp_after)} g ({_delta(o.gwp_before, o.gwp_after, _g)})",
            "",
            f"  {'use case':<18}{'requests':>9}{'changed':>9}{'denied':>8}{'cost EUR before':>17}{'after':>11}"
            f"{'CO2e g before':>15}{'after':>11}",
        ]
        for name, t in sorted(self.per_use_case.items()):
            lines.append(
                f"  {name:<18}{t.requests:>9}{t.changed:>9}{t.denied:>8}{_eur(t.cost_before):>17}"
                f"{_eur(t.cost_after):>11}{_g(t.gwp_before):>15}{_g(t.gwp_after):>11}"
            )
        if self.transitions:
            lines += ["", "  model changes:"]
            for (before, after), n in sorted(self.transitions.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {before} -> {after}: {n}")
        if self.frugality is not None and self.frugality.policy.requests:
            lines += ["", self.frugality.render()]
        return "\n".join(lines)


def _eur(micro: int) -> str:
    return f"{micro / 1_000_000:.4f}"


def _g(micro: int) -> str:
    return f"{micro / 1_000_000:.2f}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"


def _delta(before: int, after: int, fmt: Callable[[int], str]) -> str:
    sign = "+" if after >= before else "-"
    share = f", {sign}{abs(after - before) / before * 100:.1f} %" if before else ""
    return f"{sign}{fmt(abs(after - before))}{share}"


def hosted_gwp_g(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    """Central CO2e estimate (g) of a request, by the hosted (EcoLogits-based) estimator."""
    return hosted_estimate(spec.impact, input_tokens, output_tokens).gwp_g.value


def replay(rows: Iterable[LedgerRow], engine: PolicyEngine, gwp_g: GwpEstimate = hosted_gwp_g,
           since: datetime | None = None, estimate: Estimate = hosted_estimate) -> ReplayReport:
    """Re-decide each row under `engine`'s policy and total the projected changes; the
    frugality comparison re-estimates every scenario with the one model-based method."""
    report = ReplayReport(engine.version, engine.policy.version_label, since)
    meter = FrugalityMeter(engine.catalogue, estimate)
    for row in rows:
        request = RoutingRequest(
            requested_model=row.requested_model,
            use_case=row.use_case,
            prompt_text="",
            prompt_tokens=row.input_tokens,
            department=row.department,
            roles=row.roles,
            now=row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=timezone.utc),
            max_tokens=row.max_tokens,
        )
        try:
            decision = engine.decide(request)
        except PolicyDenied:
            totals = (row.cost_micro_eur, 0), (row.gwp_ug, 0)
            _add(report, row.use_case, False, True, *totals)
            report.transitions[(row.served_model, "denied")] += 1
            continue
        output = row.output_tokens
        if decision.max_tokens_cap is not None:
            output = min(output, decision.max_tokens_cap)
        meter.add(Served(decision.model, row.input_tokens, output), baseline_output_tokens=row.output_tokens)
        if decision.model == row.served_model and output == row.output_tokens:
            _add(report, row.use_case, False, False, (row.cost_micro_eur,) * 2, (row.gwp_ug,) * 2)
            continue
        spec = engine.catalogue.get(decision.model)
        assert spec is not None
        cost = spec.cost_micro_eur(row.input_tokens, output)
        gwp = _projected_gwp_ug(row, spec, output, engine, gwp_g)
        changed = decision.model != row.served_model
        _add(report, row.use_case, changed, False, (row.cost_micro_eur, cost), (row.gwp_ug, gwp))
        if changed:
            report.transitions[(row.served_model, decision.model)] += 1
    report.frugality = meter.report()
    return report


def _projected_gwp_ug(row: LedgerRow, spec: ModelSpec, output: int, engine: PolicyEngine, gwp_g: GwpEstimate) -> int:
    """Recorded CO2e scaled by the estimated ratio new/old, so a factor-set change since
    the recording does not show up as a routing effect; absolute estimate when unknown."""
    projected = gwp_g(spec, row.input_tokens, output)
    served = engine.catalogue.get(row.served_model)
    baseline = gwp_g(served, row.input_tokens, row.output_tokens) if served else 0.0
    if baseline > 0 and row.gwp_ug > 0:
        return round(row.gwp_ug * projected / baseline)
    return round(projected * 1_000_000)


def _add(report: ReplayReport, use_case: str, changed: bool, denied: bool,
         cost: tuple[int, int], gwp: tuple[int, int]) -> None:
    report.overall.add(changed, denied, cost, gwp)
    report.per_use_case.setdefault(use_case, Totals()).add(changed, denied, cost, gwp)
