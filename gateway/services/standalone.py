"""The admin services outside a running gateway (the CLI): the same classes, the same database and keys.

Each service is built when first used, so `sobria keys create` or the first-start key
of `sobria serve` does not pay for loading the policy or connecting to the budget store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.audit import AuditLog
from gateway.identity.keys import KeyStore
from gateway.ledger import db
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.pseudonyms import PseudonymLinks, Pseudonyms
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.services.policy_publishing import PolicyPublishing


class CliServices:
    """The services one CLI command may call."""

    def __init__(self, settings: Settings, engine: AsyncEngine, stack: AsyncExitStack):
        self._settings = settings
        self._engine = engine
        self._stack = stack
        self.pseudonyms = Pseudonyms(settings.effective_pseudonym_key())
        self.audit = AuditLog(engine, settings.effective_audit_key())
        self.keys = KeyService(KeyStore(engine), self.audit, self.pseudonyms)
        self.pseudonym_links = PseudonymLinks(self.pseudonyms, self.audit)
        self._overrides: BudgetOverrideService | None = None

    @property
    def budget_overrides(self) -> BudgetOverrideService:
        if self._overrides is None:
            from gateway.budgets.factory import build_store
            from gateway.budgets.ledger_source import LedgerRebuildSource
            from gateway.budgets.overrides import BudgetOverrides
            from gateway.budgets.service import BudgetService

            settings = self._settings
            budgets = BudgetService(build_store(settings.budgets, settings.redis_url, LedgerRebuildSource(self._engine)),
                                    settings.budgets)
            self._stack.push_async_callback(budgets.aclose)
            self._overrides = BudgetOverrideService(BudgetOverrides(self._engine), budgets, self.audit, self.pseudonyms)
        return self._overrides

    async def policy(self) -> PolicyPublishing:
        """The policy service, on the version published in the database."""
        from gateway.providers.catalogue import Catalogue
        from gateway.services.policy_publishing import PolicyPublishing
        from policies.engine import PolicyEngine

        settings = self._settings
        engine = PolicyEngine.load(settings.policy_path, Catalogue.load(settings.catalogue_path))
        publishing = PolicyPublishing(engine, self._engine, settings.effective_database_url, self.audit,
                                      settings.policy_path)
        await publishing.follow_once()
        return publishing


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[CliServices]:
    """Migrate, connect and hand out the services; everything is closed on the way out."""
    url = settings.effective_database_url
    await db.upgrade(url)
    async with AsyncExitStack() as stack:
        engine = db.make_engine(url)
        stack.push_async_callback(engine.dispose)
        yield CliServices(settings, engine, stack)
