"""The admin services outside a running gateway (the CLI): the same classes, the same database and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from gateway.audit import AuditLog
from gateway.budgets.factory import build_store
from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.overrides import BudgetOverrides
from gateway.budgets.service import BudgetService
from gateway.catalogue import Catalogue
from gateway.keys import KeyStore
from gateway.ledger import db
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.pseudonyms import Pseudonyms
from gateway.services.registry import Services
from gateway.settings import Settings
from policies.engine import PolicyEngine


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Migrate, connect and build the services; everything is closed on the way out."""
    url = settings.effective_database_url
    await db.upgrade(url)
    async with AsyncExitStack() as stack:
        engine = db.make_engine(url)
        stack.push_async_callback(engine.dispose)
        pseudonyms = Pseudonyms(settings.effective_pseudonym_key())
        audit = AuditLog(engine, settings.effective_audit_key())
        store = build_store(settings.budgets, settings.redis_url, LedgerRebuildSource(engine))
        budgets = BudgetService(store, settings.budgets)
        stack.push_async_callback(budgets.aclose)
        policy = PolicyEngine.load(settings.policy_path, Catalogue.load(settings.catalogue_path))
        publishing = PolicyPublishing(policy, engine, url, audit, settings.policy_path)
        await publishing.follow_once()
        yield Services(
            KeyService(KeyStore(engine), audit, pseudonyms),
            BudgetOverrideService(BudgetOverrides(engine), budgets, audit, pseudonyms),
            publishing,
            pseudonyms,
            audit,
        )
