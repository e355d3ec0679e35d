"""One loopback provider and one real gateway process for the client tests of this folder.

The gateway's catalogue reaches the loopback provider two ways: `tool-small` speaks
OpenAI's protocol (the relay), `tool-claude` is an Anthropic deployment (litellm
translates); `demo-small` has no provider (the demo responder); `embed-small` and
`demo-embed` are embedding models.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import (
    ROOT,
    Gateway,
    catalogue_for,
    mock_model,
    policy_for,
    start_gateway,
    stop,
    wait_until_up,
)

HERE = Path(__file__).resolve().parent


@dataclass
class Loopback:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[dict]:
        return httpx.get(f"{self.url}/_requests").json()

    def last(self, path: str) -> dict:
        return [r for r in self.received() if r["path"] == path][-1]["body"]


def start_loopback() -> Loopback:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "loopback.py"), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wait_until_up(f"http://127.0.0.1:{port}/stats", process)
    return Loopback(port, process)


def client_catalogue(loopback: Loopback, litellm: bool = True) -> str:
    """The test catalogue; without `litellm`, no deployment needs litellm (the gateway starts faster)."""
    v1 = f"{loopback.url}/v1"
    if not litellm:
        return catalogue_for(v1, mock_model("tool-small", "small", v1, "0.10", "0.30"))
    extra = mock_model("tool-small", "small", v1, "0.10", "0.30") + f"""
  - name: tool-claude
    tier: medium
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{loopback.url}/anthropic/v1/messages", api_key: loop}}
    price_eur_per_mtok: {{input: "3.00", output: "15.00"}}
    max_output_tokens: 1024
    impact: {{provider: anthropic, ecologits_provider: anthropic, ecologits_model: claude-sonnet-4-5, zone: USA}}
  - name: embed-small
    tier: small
    kind: embedding
    litellm_params: {{model: openai/embed-small, api_base: "{v1}", api_key: loop}}
    price_eur_per_mtok: {{input: "0.02", output: "0"}}
    impact: {{provider: openai, zone: USA}}
  - name: demo-embed
    tier: small
    kind: embedding
    litellm_params: {{model: mistral/mistral-embed}}
    api_key_env: SOBRIA_TEST_NEVER_SET
    price_eur_per_mtok: {{input: "0.10", output: "0"}}
    impact: {{provider: mistralai, zone: SWE}}
"""
    return catalogue_for(v1, extra)


@pytest.fixture(scope="session")
def loopback() -> Iterator[Loopback]:
    server = start_loopback()
    yield server
    stop(server.process)


@pytest.fixture(scope="session")
def client_gateway(tmp_path_factory: pytest.TempPathFactory, loopback: Loopback) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("clients")
    fallbacks = {"small": ["tool-small", "demo-small"], "medium": ["test-medium"], "large": ["test-large"]}
    gateway = start_gateway(tmp, client_catalogue(loopback), policy_yaml=policy_for(fallbacks), timeout_s=180)
    yield gateway
    stop(gateway.process)


@pytest.fixture(scope="session")
def employee_key(client_gateway: Gateway) -> str:
    return client_gateway.create_key("e-clients", "rnd")


#: The use case the client tests name: `general` (tier medium) lets a caller name any
#: small or medium model, so each test reaches the deployment it names.
USE_CASE = {"X-Sobria-Use-Case": "general"}
