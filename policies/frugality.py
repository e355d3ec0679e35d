"""Frugality measured: a policy's routing against "always the largest" and "always the smallest".

Every scenario is estimated with ONE method, the model-based one (EcoLogits through
`estimators.hosted`, location-based CO2e), for every model, so that a supplier's
life-cycle figure for one model cannot make a scenario look greener or dirtier than the
others. Supplier-specific figures, where the catalogue declares them, are totalled
beside (for the requests their model served) and never mixed into the comparison.
Figures are per 1000 requests: energy in Wh, CO2e in g, cost in EUR (from micro-euros).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from estimators.impacts import Impacts, ImpactProfile
from contracts.catalogue import Catalogue, ModelSpec
from policies.schema import TIERS

Estimate = Callable[[ImpactProfile, int, int], Impacts]


def add_amounts(totals: object, **amounts: float) -> None:
    """Add each amount to the field of that name: the one summing step of the frugality
    scenarios and of the replay totals."""
    for name, amount in amounts.items():
        setattr(totals, name, getattr(totals, name) + amount)


def hosted_estimate(profile: ImpactProfile, input_tokens: int, output_tokens: int) -> Impacts:
    """The hosted estimator at the model's modelled generation time (no measured latency)."""
    from estimators.hosted import HostedEstimator

    return HostedEstimator().estimate(profile, input_tokens, output_tokens)


@dataclass(frozen=True, slots=True)
class Served:
    """One request of a comparison: the model a scenario sends it to, and its token counts."""

    model: str
    input_tokens: int
    output_tokens: int


@dataclass(slots=True)
class Scenario:
    """Totals of one scenario; `supplier_*` only over requests whose model has a supplier factor."""

    name: str
    requests: int = 0
    energy_wh: float = 0.0
    gwp_g: float = 0.0
    cost_micro_eur: int = 0
    supplier_requests: int = 0
    supplier_gwp_g: float = 0.0
    supplier_model_based_gwp_g: float = 0.0

    def per_1000(self, value: float) -> float:
        return value * 1000 / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "scenario": self.name,
            "requests": self.requests,
            "energy_wh_per_1000": self.per_1000(self.energy_wh),
            "gwp_g_per_1000": self.per_1000(self.gwp_g),
            "cost_eur_per_1000": self.per_1000(self.cost_micro_eur) / 1_000_000,
            "supplier_requests": self.supplier_requests,
            "supplier_gwp_g": self.supplier_gwp_g,
            "supplier_model_based_gwp_g": self.supplier_model_based_gwp_g,
        }


@dataclass(frozen=True, slots=True)
class FrugalityReport:
    """The policy, always-largest and always-smallest scenarios, with the models they use."""

    policy: Scenario
    largest: Scenario
    smallest: Scenario
    largest_model: str
    smallest_model: str
    method: str

    @property
    def scenarios(self) -> tuple[Scenario, Scenario, Scenario]:
        return self.policy, self.largest, self.smallest

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "largest_model": self.largest_model,
            "smallest_model": self.smallest_model,
            "scenarios": [s.as_dict() for s in self.scenarios],
        }

    def render(self) -> str:
        lines = [
            f"  frugality per 1000 requests ({self.method}, the same method for every model):",
            f"  {'scenario':<28}{'energy Wh':>11}{'CO2e g':>10}{'cost EUR':>10}",
        ]
        labels = {
            "policy": "policy",
            "largest": f"always {self.largest_model}",
            "smallest": f"always {self.smallest_model}",
        }
        for s in self.scenarios:
            lines.append(
                f"  {labels[s.name]:<28}{s.per_1000(s.energy_wh):>11.2f}{s.per_1000(s.gwp_g):>10.2f}"
                f"{s.per_1000(s.cost_micro_eur) / 1_000_000:>10.4f}"
            )
        beside = [s for s in self.scenarios if s.supplier_requests]
        if beside:
            lines.append("  supplier-specific figures, beside (not in the comparison above):")
            for s in beside:
                lines.append(
                    f"    {labels[s.name]}: {s.supplier_requests} requests to a model with a supplier factor, "
                    f"supplier {s.supplier_gwp_g:.2f} g CO2e vs model-based {s.supplier_model_based_gwp_g:.2f} g"
                )
        return "\n".join(lines)


def extreme_models(catalogue: Catalogue) -> tuple[ModelSpec, ModelSpec]:
    """(largest, smallest): the preferred model of the largest and of the smallest tier present."""
    present = [t for t in TIERS if catalogue.in_tier(t)]
    return catalogue.preferred(present[-1]), catalogue.preferred(present[0])


class FrugalityMeter:
    """Adds requests to the three scenarios; `estimate` is the model-based estimator."""

    def __init__(self, catalogue: Catalogue, estimate: Estimate = hosted_estimate):
        self.catalogue = catalogue
        self.estimate = estimate
        largest, smallest = extreme_models(catalogue)
        self.largest_model, self.smallest_model = largest.name, smallest.name
        self.scenarios = {name: Scenario(name) for name in ("policy", "largest", "smallest")}
        self._cache: dict[tuple[str, int, int], tuple[float, float, float | None]] = {}

    def _figures(self, spec: ModelSpec, input_tokens: int, output_tokens: int) -> tuple[float, float, float | None]:
        """(energy Wh, model-based CO2e g, supplier CO2e g or None) of one request."""
        key = (spec.name, input_tokens, output_tokens)
        found = self._cache.get(key)
        if found is None:
            model_based = self.estimate(replace(spec.impact, supplier=None), input_tokens, output_tokens)
            supplier = None
            if spec.impact.supplier is not None:
                supplier = self.estimate(spec.impact, input_tokens, output_tokens).gwp_g.value
            found = (model_based.energy_wh.value, model_based.gwp_g.value, supplier)
            self._cache[key] = found
        return found

    def _add(self, scenario: Scenario, spec: ModelSpec, input_tokens: int, output_tokens: int) -> None:
        energy, gwp, supplier = self._figures(spec, input_tokens, output_tokens)
        cost = spec.cost_micro_eur(input_tokens, output_tokens)
        add_amounts(scenario, requests=1, energy_wh=energy, gwp_g=gwp, cost_micro_eur=cost)
        if supplier is not None:
            add_amounts(scenario, supplier_requests=1, supplier_gwp_g=supplier, supplier_model_based_gwp_g=gwp)

    def add(self, routed: Served, baseline_output_tokens: int | None = None) -> None:
        """One request: routed by the policy as `routed`; the baselines see the uncapped output."""
        spec = self.catalogue.get(routed.model)
        if spec is None:
            raise LookupError(f"unknown model {routed.model!r}")
        output = routed.output_tokens if baseline_output_tokens is None else baseline_output_tokens
        self._add(self.scenarios["policy"], spec, routed.input_tokens, routed.output_tokens)
        for name, model in (("largest", self.largest_model), ("smallest", self.smallest_model)):
            other = self.catalogue.get(model)
            assert other is not None
            self._add(self.scenarios[name], other, routed.input_tokens, min(output, other.max_output_tokens))

    def report(self) -> FrugalityReport:
        from estimators.hosted import METHOD_ID

        s = self.scenarios
        return FrugalityReport(s["policy"], s["largest"], s["smallest"], self.largest_model, self.smallest_model,
                               f"model-based {METHOD_ID}, location-based CO2e")


def measure(requests: Iterable[Served], catalogue: Catalogue, estimate: Estimate = hosted_estimate) -> FrugalityReport:
    """The three scenarios over requests already routed by a policy."""
    meter = FrugalityMeter(catalogue, estimate)
    for request in requests:
        meter.add(request)
    return meter.report()
