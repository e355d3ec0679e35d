"""Typed FastAPI dependencies: the routes name the service they need, not an `app.state` attribute.

The composition root stores one `Services` (and the settings, catalogue and metrics)
on the application; these functions are the only readers of that state for the
routes that use them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.audit import AuditLog
from gateway.budgets.service import BudgetService
from gateway.catalogue import Catalogue
from gateway.metrics import Metrics
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.registry import Services
from gateway.settings import Settings


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def catalogue(request: Request) -> Catalogue:
    found: Catalogue = request.app.state.catalogue
    return found


def metrics(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


def budgets(request: Request) -> BudgetService:
    found: BudgetService = request.app.state.budgets
    return found


def key_service(found: Annotated[Services, Depends(services)]) -> KeyService:
    return found.keys


def budget_override_service(found: Annotated[Services, Depends(services)]) -> BudgetOverrideService:
    return found.budget_overrides


def policy_publishing(found: Annotated[Services, Depends(services)]) -> PolicyPublishing:
    return found.policy


def audit_log(found: Annotated[Services, Depends(services)]) -> AuditLog:
    return found.audit


SettingsDep = Annotated[Settings, Depends(settings)]
CatalogueDep = Annotated[Catalogue, Depends(catalogue)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
BudgetsDep = Annotated[BudgetService, Depends(budgets)]
KeysDep = Annotated[KeyService, Depends(key_service)]
OverridesDep = Annotated[BudgetOverrideService, Depends(budget_override_service)]
PolicyDep = Annotated[PolicyPublishing, Depends(policy_publishing)]
AuditDep = Annotated[AuditLog, Depends(audit_log)]
