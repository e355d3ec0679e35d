"""The admin services against a real, migrated database (SQLite, and PostgreSQL where asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.audit import AuditLog
from gateway.budgets.config import BudgetsConfig
from gateway.budgets.factory import build_store
from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.overrides import BudgetOverrides
from gateway.budgets.service import BudgetService
from gateway.providers.catalogue import Catalogue
from gateway.identity.keys import KeyStore
from gateway.ledger import db
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.pseudonyms import PseudonymLinks, Pseudonyms
from gateway.services.registry import Services
from policies.engine import PolicyEngine
from tests.processes import mock_model, policy_for

AUDIT_KEY = b"services-test-audit-key"
PSEUDONYM_KEY = b"services-test-pseudonym-key"


async def build_services(engine: AsyncEngine, url: str, policy_file: Path) -> Services:
    """The services one gateway process builds, over `engine` (the budget store in memory)."""
    audit = AuditLog(engine, AUDIT_KEY)
    pseudonyms = Pseudonyms(PSEUDONYM_KEY)
    budgets = BudgetService(build_store(BudgetsConfig(), None, LedgerRebuildSource(engine)), BudgetsConfig())
    policy = PolicyEngine.load(policy_file, Catalogue.load(env={}))
    return Services(
        KeyService(KeyStore(engine), audit, pseudonyms),
        BudgetOverrideService(BudgetOverrides(engine), budgets, audit, pseudonyms),
        PolicyPublishing(policy, engine, url, audit, policy_file),
        pseudonyms,
        audit,
        PseudonymLinks(pseudonyms, audit),
    )


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    await db.upgrade(sqlite_url)
    engine = db.make_engine(sqlite_url)
    yield engine
    await engine.dispose()


def relay_only_catalogue(upstream_url: str) -> str:
    """Small, medium and large models on the mock upstream, all reached by the relay (no litellm import)."""
    return "version: test\nmodels:" + "".join(
        mock_model(f"test-{tier}", tier, upstream_url, "0.10", "0.30") for tier in ("small", "medium", "large")
    ) + "\n"


RELAY_FALLBACKS = {"small": ["test-small"], "medium": ["test-medium"], "large": ["test-large"]}


def relay_only_policy() -> str:
    return policy_for(RELAY_FALLBACKS)
