"""One gateway for the security tests, with callers of every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.processes import Gateway, catalogue_for, start_gateway, start_mock_upstream, stop


@dataclass
class Callers:
    """A key per role, and a revoked one; `None` is the anonymous caller."""

    employee: str
    other_employee: str
    committee: str
    admin: str
    revoked: str

    def key(self, role: str) -> str | None:
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture(scope="package")
def secured(tmp_path_factory) -> Iterator[tuple[Gateway, Callers]]:
    upstream = start_mock_upstream("--output-tokens", "8")
    env = {"SOBRIA_RATE_LIMIT_RPM": "1000"}
    gateway = start_gateway(tmp_path_factory.mktemp("secured"), catalogue_for(upstream.base_url), env)
    revoked = gateway.create_key("renee", "legal")
    callers = Callers(
        employee=gateway.create_key("alice", "finance"),
        other_employee=gateway.create_key("bruno", "finance"),
        committee=gateway.create_key("claire", "ethics", "committee"),
        admin=gateway.admin_key,
        revoked=revoked,
    )
    key_id = revoked.removeprefix("sk-sobria-")[:8]
    response = httpx.delete(f"{gateway.base_url}/admin/keys/{key_id}", headers={"Authorization": f"Bearer {gateway.admin_key}"})
    assert response.status_code < 300, response.text
    yield gateway, callers
    stop(gateway.process)
    stop(upstream.process)
