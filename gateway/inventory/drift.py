"""Drift between the routing policy's use cases and the register.

The policy decides routing, the register decides whether a use case may serve at
all; they must name the same use cases and agree on which ones are switched off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.i18n import translate
from gateway.inventory.lifecycle import serves
from gateway.inventory.model import SERVING


@dataclass(frozen=True, slots=True)
class Drift:
    use_case: str
    key: str
    params: dict[str, str]

    def render(self, language: str = "en") -> str:
        """The disagreement in `language`, statuses in words (the policy's or the register's)."""
        params = dict(self.params)
        if "status" in params:
            kind = "drift.policy_status" if self.key == "drift.policy_off" else "ui.status"
            params["status"] = translate(f"{kind}.{params['status']}", language)
        return translate(self.key, language, use_case=self.use_case, **params)


def drift(policy_use_cases: Iterable[Any], register: Mapping[str, tuple[str, str, bool]]) -> list[Drift]:
    """Differences between policy use cases (with `id`, `status`) and register statuses by id."""
    found: list[Drift] = []
    policy = {uc.id: uc for uc in policy_use_cases}
    for uc_id, uc in sorted(policy.items()):
        if uc_id not in register:
            found.append(Drift(uc_id, "drift.not_registered", {}))
            continue
        status, _, provisional = register[uc_id]
        policy_on = getattr(uc, "status", "active") in {"active", "pilot"}
        if policy_on and serves(status, provisional) and status not in SERVING:
            found.append(Drift(uc_id, "drift.provisional", {"status": status}))
        elif policy_on and status not in SERVING:
            found.append(Drift(uc_id, "drift.not_approved", {"status": status}))
        elif not policy_on and status in SERVING:
            found.append(Drift(uc_id, "drift.policy_off", {"status": str(getattr(uc, "status", ""))}))
    for uc_id, (status, _, _) in sorted(register.items()):
        if uc_id not in policy and status in SERVING:
            found.append(Drift(uc_id, "drift.not_in_policy", {"status": status}))
    return found
