"""Which deployments take the lean relay, and where it sends them."""

from __future__ import annotations

from gateway.providers.catalogue import Catalogue
from gateway.providers.relay import target_for

_BASE = {
    "tier": "small",
    "price_eur_per_mtok": {"input": "0.1", "output": "0.3"},
    "impact": {"provider": "mistralai"},
}


def spec(litellm_params: dict, env: dict | None = None, **extra):
    model = {**_BASE, "name": "m", "litellm_params": litellm_params, **extra}
    return Catalogue.from_dict({"version": "t", "models": [model]}, env=env or {}).get("m")


def test_openai_compatible_server_with_api_base_is_relayed_to_its_chat_completions_url():
    target = target_for(spec({"model": "openai/llama3.1:8b", "api_base": "http://127.0.0.1:11434/v1/"}))
    assert target.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert target.model == "llama3.1:8b"


def test_mistral_with_a_key_is_relayed_to_mistral_with_bearer_auth_and_no_stream_options():
    target = target_for(spec({"model": "mistral/mistral-small-latest"}, {"MISTRAL_API_KEY": "sk-x"},
                             api_key_env="MISTRAL_API_KEY"))
    assert target.url == "https://api.mistral.ai/v1/chat/completions"
    assert target.headers["Authorization"] == "Bearer sk-x"
    assert target.stream_options is False


def test_openai_with_a_key_is_relayed_to_openai():
    target = target_for(spec({"model": "openai/gpt-4o-mini"}, {"OPENAI_API_KEY": "sk-y"}, api_key_env="OPENAI_API_KEY"))
    assert target.url == "https://api.openai.com/v1/chat/completions"
    assert target.model == "gpt-4o-mini"


def test_other_protocols_stay_with_litellm():
    assert target_for(spec({"model": "anthropic/claude-3-5-haiku", "api_key": "k"})) is None
    assert target_for(spec({"model": "azure/gpt-4o", "api_base": "https://x.openai.azure.com", "api_key": "k"})) is None


def test_deployments_with_litellm_specific_parameters_stay_with_litellm():
    assert target_for(spec({"model": "openai/m", "api_base": "http://h/v1", "api_key": "k", "rpm": 10})) is None


def test_demo_models_stay_with_litellm():
    assert target_for(spec({"model": "mistral/mistral-small-latest"}, api_key_env="NEVER_SET")) is None
