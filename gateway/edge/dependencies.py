"""Typed FastAPI dependencies: the routes name the service they need, not an `app.state` attribute.

The composition root stores one `Services` (and the settings, catalogue and metrics)
on the application; these functions are the only readers of that state for the
routes that use them. They are coroutines, however little they do: FastAPI runs a plain
`def` dependency in a worker thread, a thread hand-off on every request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.audit import AuditLog
from gateway.budgets.gate import BudgetGate
from gateway.budgets.service import BudgetService
from gateway.inventory.service import Inventory
from gateway.providers.catalogue import Catalogue
from gateway.request.embeddings import EmbeddingService
from gateway.request.pipeline import ChatPipeline
from gateway.observability.footprint import Footprint
from gateway.observability.metrics import Metrics
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.pseudonyms import PseudonymLinks
from gateway.services.registry import Services
from gateway.settings import Settings
from policies.engine import PolicyEngine

_T = TypeVar("_T")


def _state(name: str, kind: type[_T]) -> Callable[[Request], Awaitable[_T]]:
    """A dependency reading what the composition root stored as `name`, typed as `kind`."""

    async def read(request: Request) -> _T:
        found: _T = getattr(request.app.state, name)
        return found

    read.__name__ = read.__qualname__ = name
    read.__doc__ = f"The composed {kind.__name__} (`app.state.{name}`)."
    return read


services = _state("services", Services)


def services_of(request: Request) -> Services:
    """The composed `Services`, for helpers called outside dependency injection."""
    found: Services = request.app.state.services
    return found


settings = _state("settings", Settings)
catalogue = _state("catalogue", Catalogue)
metrics = _state("metrics", Metrics)
budgets = _state("budgets", BudgetService)
engine = _state("engine", AsyncEngine)
inventory = _state("inventory", Inventory)
policy_engine = _state("policy_engine", PolicyEngine)
pipeline = _state("pipeline", ChatPipeline)
embeddings = _state("embeddings", EmbeddingService)


async def footprint(request: Request) -> Footprint | None:
    """The gateway's own measured footprint, when measured mode is on (None otherwise)."""
    found: Footprint | None = getattr(request.app.state, "footprint", None)
    return found


async def dead_letter_counts(request: Request) -> Counter[str]:
    """Rows this process set aside since it started, per table."""
    counts: Callable[[], Counter[str]] = request.app.state.dead_letter_counts
    return counts()


async def budget_gate(found: Annotated[ChatPipeline, Depends(pipeline)]) -> BudgetGate:
    """The request path's budget gate (reservations, and the caller's budgets as /v1/me/usage shows them)."""
    return found.budgets


def _service(pick: Callable[[Services], _T]) -> Callable[[Services], Awaitable[_T]]:
    """A dependency on one of the admin services, through `services`."""

    async def read(found: Annotated[Services, Depends(services)]) -> _T:
        return pick(found)

    return read


key_service = _service(lambda found: found.keys)
budget_override_service = _service(lambda found: found.budget_overrides)
policy_publishing = _service(lambda found: found.policy)
audit_log = _service(lambda found: found.audit)
pseudonym_links = _service(lambda found: found.pseudonym_links)


SettingsDep = Annotated[Settings, Depends(settings)]
CatalogueDep = Annotated[Catalogue, Depends(catalogue)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
BudgetsDep = Annotated[BudgetService, Depends(budgets)]
EngineDep = Annotated[AsyncEngine, Depends(engine)]
InventoryDep = Annotated[Inventory, Depends(inventory)]
PolicyEngineDep = Annotated[PolicyEngine, Depends(policy_engine)]
BudgetGateDep = Annotated[BudgetGate, Depends(budget_gate)]
EmbeddingsDep = Annotated[EmbeddingService, Depends(embeddings)]
PipelineDep = Annotated[ChatPipeline, Depends(pipeline)]
FootprintDep = Annotated[Footprint | None, Depends(footprint)]
DeadLetterCountsDep = Annotated[Counter[str], Depends(dead_letter_counts)]
KeysDep = Annotated[KeyService, Depends(key_service)]
OverridesDep = Annotated[BudgetOverrideService, Depends(budget_override_service)]
PolicyDep = Annotated[PolicyPublishing, Depends(policy_publishing)]
AuditDep = Annotated[AuditLog, Depends(audit_log)]
PseudonymLinksDep = Annotated[PseudonymLinks, Depends(pseudonym_links)]
