"""Fixtures for policy tests: the shipped catalogue (offline), engines, requests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.providers.catalogue import Catalogue
from policies.decision import RoutingRequest
from policies.engine import PolicyEngine

DATA = Path(__file__).with_name("data")
RULES_POLICY = DATA / "rules_policy.yaml"
NOON_PARIS = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load(env={})


@pytest.fixture(scope="session")
def rules_engine(catalogue: Catalogue) -> PolicyEngine:
    return PolicyEngine.load(RULES_POLICY, catalogue)


@pytest.fixture(scope="session")
def default_engine(catalogue: Catalogue) -> PolicyEngine:
    return PolicyEngine.load(None, catalogue)


def make_request(
    use_case: str | None = "general",
    model: str = "auto",
    tokens: int = 200,
    department: str = "finance",
    roles: tuple[str, ...] = ("employee",),
    now: datetime = NOON_PARIS,
    prompt: str = "",
) -> RoutingRequest:
    return RoutingRequest(
        requested_model=model,
        use_case=use_case,
        prompt_text=prompt,
        prompt_tokens=tokens,
        department=department,
        roles=frozenset(roles),
        now=now,
    )
