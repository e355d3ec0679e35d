"""Routing engine: resolve the use case, then the smallest model whose tier serves it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from gateway.catalogue import Catalogue
from policies.decision import PolicyDenied, RoutingDecision, RoutingRequest

DEFAULT_POLICY = Path(__file__).with_name("default_policy.yaml")


class PolicyEngine:
    """Decides a `RoutingDecision` for each request under one loaded policy."""

    def __init__(self, policy: dict[str, Any], catalogue: Catalogue, version: str):
        self.catalogue = catalogue
        self.version = version
        self.use_cases = {uc["id"]: uc for uc in policy.get("use_cases", [])}
        if "general" not in self.use_cases:
            raise ValueError("a policy needs a 'general' use case")

    @classmethod
    def load(cls, path: Path | None, catalogue: Catalogue) -> "PolicyEngine":
        raw = (path or DEFAULT_POLICY).read_bytes()
        version = hashlib.sha256(raw).hexdigest()[:12]
        return cls(yaml.safe_load(raw), catalogue, version)

    def decide(self, request: RoutingRequest) -> RoutingDecision:
        use_case_id = request.use_case or "general"
        use_case = self.use_cases.get(use_case_id)
        if use_case is None:
            raise PolicyDenied(f"unknown use case {use_case_id!r}", code="use_case_unknown")
        if request.requested_model != "auto":
            spec = self.catalogue.get(request.requested_model)
            if spec is None:
                raise PolicyDenied(
                    f"unknown model {request.requested_model!r}", code="model_not_found", status=404
                )
            return RoutingDecision(
                model=spec.name,
                use_case=use_case_id,
                rule_id="explicit-model",
                policy_version=self.version,
                reason="the caller named this model",
                fallbacks=tuple(self.catalogue.fallbacks.get(spec.name, ())),
            )
        spec = self.catalogue.preferred(use_case["tier"])
        return RoutingDecision(
            model=spec.name,
            use_case=use_case_id,
            rule_id="use-case-tier",
            policy_version=self.version,
            reason=f"use case {use_case_id!r} needs tier {use_case['tier']!r}",
            fallbacks=tuple(self.catalogue.fallbacks.get(spec.name, ())),
        )
