"""Frugality of a policy: one estimation method for every model, supplier figures beside.

The shipped catalogue is given a supplier life-cycle factor on `mistral-large` that is
far above its model-based estimate (as a supplier's published figure can be): if it
were mixed in, "always the largest" would look several times dirtier than the model-based
method says. The real hosted estimator does the estimating.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import SupplierFactor
from gateway.providers.catalogue import Catalogue
from policies.decision import RoutingRequest
from policies.engine import PolicyEngine
from policies.frugality import Served, measure
from policies.replay import LedgerRow, replay
from tests.policies.conftest import DATA

ESTIMATOR = HostedEstimator()
REQUESTS = [Served("mistral-small", 400, 300), Served("mistral-large", 2_000, 600), Served("mistral-medium", 900, 200)]


@pytest.fixture(scope="module")
def with_supplier(catalogue) -> Catalogue:
    models = []
    for spec in catalogue.all():
        if spec.name == "mistral-large":
            factor = SupplierFactor(
                source="test supplier sheet", model_version=spec.impact.model_version,
                reference_output_tokens=400, relative_uncertainty=0.5, gwp_g=500.0,
            )
            spec = replace(spec, impact=replace(spec.impact, supplier=factor))
        models.append(spec)
    return Catalogue(models, catalogue.fallbacks, catalogue.version)


def model_based_g(catalogue: Catalogue, name: str, tokens_in: int, tokens_out: int) -> float:
    spec = catalogue.get(name)
    assert spec is not None
    return ESTIMATOR.estimate(replace(spec.impact, supplier=None), tokens_in, tokens_out).gwp_g.value


def test_the_fixture_supplier_figure_differs_from_the_model_based_one(with_supplier):
    spec = with_supplier.get("mistral-large")
    assert spec is not None
    supplier = ESTIMATOR.estimate(spec.impact, 2_000, 600).gwp_g.value
    assert supplier > 3 * model_based_g(with_supplier, "mistral-large", 2_000, 600)


def test_every_scenario_is_estimated_model_based_for_every_model(with_supplier):
    report = measure(REQUESTS, with_supplier)
    policy_g = sum(model_based_g(with_supplier, r.model, r.input_tokens, r.output_tokens) for r in REQUESTS)
    largest_g = sum(model_based_g(with_supplier, "mistral-large", r.input_tokens, r.output_tokens) for r in REQUESTS)
    smallest_g = sum(model_based_g(with_supplier, "mistral-small", r.input_tokens, r.output_tokens) for r in REQUESTS)
    assert (report.largest_model, report.smallest_model) == ("mistral-large", "mistral-small")
    assert report.policy.gwp_g == pytest.approx(policy_g)
    assert report.largest.gwp_g == pytest.approx(largest_g)
    assert report.smallest.gwp_g == pytest.approx(smallest_g)
    assert report.smallest.gwp_g < report.policy.gwp_g < report.largest.gwp_g
    assert report.method.startswith("model-based")


def test_supplier_figures_are_totalled_beside_for_the_requests_their_model_served(with_supplier):
    report = measure(REQUESTS, with_supplier)
    spec = with_supplier.get("mistral-large")
    assert spec is not None
    assert (report.policy.supplier_requests, report.largest.supplier_requests, report.smallest.supplier_requests) == (1, 3, 0)
    assert report.policy.supplier_gwp_g == pytest.approx(ESTIMATOR.estimate(spec.impact, 2_000, 600).gwp_g.value)
    assert report.policy.supplier_model_based_gwp_g == pytest.approx(model_based_g(with_supplier, "mistral-large", 2_000, 600))
    text = report.render()
    assert "the same method for every model" in text
    assert "supplier-specific figures, beside (not in the comparison above)" in text


def test_per_1000_figures_scale_the_totals(with_supplier):
    report = measure(REQUESTS, with_supplier)
    row = report.as_dict()["scenarios"][0]
    assert row["gwp_g_per_1000"] == pytest.approx(report.policy.gwp_g * 1000 / 3)
    assert row["cost_eur_per_1000"] == pytest.approx(report.policy.cost_micro_eur * 1000 / 3 / 1_000_000)


def test_replay_reports_frugality_with_the_same_single_method(with_supplier):
    engine = PolicyEngine.load(DATA / "rules_policy_v2.yaml", with_supplier)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    rows = [
        LedgerRow(now, "general", "finance", frozenset({"employee"}), "auto", "gpt-4o-mini", 300, 200, None, 115, 230_000),
        LedgerRow(now, "translation", "hr", frozenset({"employee"}), "auto", "mistral-small", 400, 900, None, 286, 1_300_000),
    ]
    report = replay(rows, engine)
    assert report.frugality is not None
    decided = [engine.decide(_request(row)) for row in rows]
    served = [(d.model, row.input_tokens, min(row.output_tokens, d.max_tokens_cap or row.output_tokens))
              for d, row in zip(decided, rows)]
    assert report.frugality.policy.gwp_g == pytest.approx(sum(model_based_g(with_supplier, *s) for s in served))
    largest = sum(model_based_g(with_supplier, "mistral-large", r.input_tokens, r.output_tokens) for r in rows)
    assert report.frugality.largest.gwp_g == pytest.approx(largest)
    assert report.frugality.largest.supplier_requests == 2


def _request(row: LedgerRow) -> RoutingRequest:
    return RoutingRequest(row.requested_model, row.use_case, "", row.input_tokens, row.department, row.roles,
                          row.started_at, row.max_tokens)
