"""Domain errors: what went wrong, in the domain's words, with no HTTP in them.

Services and domain code raise these; the HTTP edge (`gateway.edge.errors`) maps each kind
to a status once, the pages show the message in the reader's language, and the CLI
prints it. `code` is stable (clients match on it), `message_key` names the catalogue
message and `params` fill it.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every domain error."""

    def __init__(self, code: str, message_key: str | None = None, param: str | None = None, **params: object):
        super().__init__(code)
        self.code = code
        self.message_key = message_key or f"error.{code}"
        self.param = param
        self.params = params


class InvalidInput(DomainError):
    """The input cannot be accepted as given (a bad scope, amount, role, policy...)."""


class NotFound(DomainError):
    """The thing named does not exist (or is no longer active)."""


class Refused(DomainError):
    """The action is understood but not allowed (a policy rule, a register status...)."""


class Conflict(DomainError):
    """The action contradicts the current state (a transition from the wrong status...)."""


class Incomplete(DomainError):
    """The input is well formed but lacks what this action needs (a decision text, approval fields...)."""


class OverLimit(DomainError):
    """A rate or budget limit is reached; room frees up after `retry_after_s` seconds."""

    def __init__(self, code: str, retry_after_s: int, message_key: str | None = None, param: str | None = None,
                 **params: object):
        super().__init__(code, message_key, param, **params)
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    """A store the action needs is unreachable; trying again later may succeed."""
