"""Routing policies: use cases, rules and the classifier that picks the smallest adequate model."""

from policies.decision import PolicyDenied, RoutingDecision, RoutingRequest

__all__ = ["PolicyDenied", "RoutingDecision", "RoutingRequest"]
