"""The admin services of one gateway process, built once by the composition root (`gateway.app`)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.ledger.audit import AuditLog
from gateway.services.budget_overrides import BudgetOverrideService
from gateway.services.keys import KeyService
from gateway.services.policy_publishing import PolicyPublishing
from gateway.services.pseudonyms import PseudonymLinks, Pseudonyms


@dataclass(frozen=True, slots=True)
class Services:
    """What the admin doors (API, pages) call; the CLI builds the same services for itself."""

    keys: KeyService
    budget_overrides: BudgetOverrideService
    policy: PolicyPublishing
    pseudonyms: Pseudonyms
    audit: AuditLog
    pseudonym_links: PseudonymLinks
