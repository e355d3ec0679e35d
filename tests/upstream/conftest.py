"""One mock upstream process for the contract tests, and Upstreams on either path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from gateway.providers.catalogue import Catalogue
from gateway.providers.upstream import Upstream
from tests.processes import MockUpstream, start_mock_upstream, stop

OUTPUT_TOKENS = 12

_MODEL = {
    "tier": "small",
    "price_eur_per_mtok": {"input": "0.10", "output": "0.30"},
    "max_output_tokens": 64,
    "impact": {"provider": "mistralai", "ecologits_provider": "mistralai",
               "ecologits_model": "mistral-small-latest", "zone": "FRA"},
}


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[MockUpstream]:
    mock = start_mock_upstream("--output-tokens", str(OUTPUT_TOKENS), "--slow-ms", "2000")
    yield mock
    stop(mock.process)


def catalogue(base_url: str, fallbacks: dict[str, list[str]] | None = None) -> Catalogue:
    """Deployments named after the mock's behaviours, all at the mock; plus one demo model."""
    names = ["ok", "ok-backup", "fail-500", "fail-500-backup", "slow", "garbage", "cut", "bad-request"]
    models = [
        {**_MODEL, "name": name, "litellm_params": {"model": f"openai/{name}", "api_base": base_url, "api_key": "k"}}
        for name in names
    ]
    models.append({**_MODEL, "name": "demo", "litellm_params": {"model": "mistral/mistral-small-latest"},
                   "api_key_env": "SOBRIA_TEST_NEVER_SET"})
    return Catalogue.from_dict({"version": "t", "models": models, "fallbacks": fallbacks or {}}, env={})


@pytest.fixture(params=["relay", "litellm"])
def path(request) -> str:
    """Every contract test runs once on the lean relay and once through litellm."""
    return request.param


@pytest.fixture
async def make_upstream(mock_upstream, path) -> AsyncIterator[Callable[..., Upstream]]:
    made: list[Upstream] = []

    def make(fallbacks: dict[str, list[str]] | None = None, timeout_s: float = 10.0, retries: int = 1) -> Upstream:
        upstream = Upstream(catalogue(mock_upstream.base_url, fallbacks), timeout_s, retries, relay=path == "relay")
        made.append(upstream)
        return upstream

    yield make
    for upstream in made:
        await upstream.aclose()
