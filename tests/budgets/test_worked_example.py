"""The README's worked example of a reservation, through a real gateway process.

`n: 3`, `max_tokens: 500`, a 200-byte system message, a 2,000-byte user message with one
image and a 6,000-byte `tools` array, routed to a deployment at 2.50 / 10.00 EUR per
million tokens whose catalogue fallback costs 5 / 15: the README says 0.070825 EUR is
reserved. With a budget one micro-euro short, the 429 names exactly that figure.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.request.tokens import input_bound
from tests.processes import mock_model, policy_for, start_gateway, stop

UPSTREAM = "http://127.0.0.1:9/v1"  # never called: the request is refused before the call
CATALOGUE = (
    "version: worked-example\nmodels:"
    + mock_model("example-primary", "small", UPSTREAM, "2.50", "10.00", max_output_tokens=4096)
    + mock_model("example-fallback", "small", UPSTREAM, "5.00", "15.00", max_output_tokens=4096)
    + mock_model("example-vision", "small", UPSTREAM, "1", "1").replace(
        "    max_output_tokens:", "    max_image_tokens: 48169\n    max_output_tokens:")
    + mock_model("example-medium", "medium", UPSTREAM, "1", "1")  # the policy needs every tier
    + mock_model("example-large", "large", UPSTREAM, "1", "1")
    + "\nfallbacks:\n  example-primary: [example-fallback]\n"
)
POLICY_FALLBACKS = {"small": ["example-primary"], "medium": ["example-medium"], "large": ["example-large"]}


def tools_of(size: int) -> list[dict]:
    """A `tools` array of exactly `size` bytes of JSON."""
    function: dict[str, str] = {"name": "lookup", "description": ""}
    tools: list[dict] = [{"type": "function", "function": function}]
    function["description"] = "d" * (size - len(orjson.dumps(tools)))
    return tools


def worked_example() -> dict:
    return {
        "model": "example-primary",
        "n": 3,
        "max_tokens": 500,
        "tools": tools_of(6000),
        "messages": [
            {"role": "system", "content": "s" * 200},
            {"role": "user", "content": [
                {"type": "text", "text": "u" * 2000},
                {"type": "image_url", "image_url": {"url": "https://example.org/chart.png"}},
            ]},
        ],
    }


def test_the_input_figures_of_the_worked_example():
    body = worked_example()
    assert len(orjson.dumps(body["tools"])) == 6000
    bound = input_bound(body["messages"], body)
    assert (bound.worst, bound.estimate, bound.images) == (9665, 3508, 1)


@pytest.fixture(scope="module")
def refusing(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(gateway URL, an employee's key) with a budget one micro-euro short of the worked example."""
    gateway = start_gateway(
        tmp_path_factory.mktemp("worked"), CATALOGUE,
        {"SOBRIA_BUDGETS__EMPLOYEE__EUR": "0.070824", "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000"},
        policy_yaml=policy_for(POLICY_FALLBACKS),
    )
    try:
        yield gateway.base_url, gateway.create_key("worked-example", "finance")
    finally:
        stop(gateway.process)


def refusal(refusing: tuple[str, str], body: dict) -> str:
    url, key = refusing
    refused = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    return error["message"]


def test_the_worked_example_reserves_0_070825_eur_at_the_fallbacks_price(refusing):
    message = refusal(refusing, worked_example())
    assert "0.070825" in message and "0.070824" in message, message


def test_a_prediction_is_reserved_for_as_output_one_token_per_byte(refusing):
    """Predicted Outputs: the provider bills the predicted tokens it rejects as output."""
    body = {"model": "example-primary", "max_tokens": 100, "messages": [{"role": "user", "content": "Bonjour"}],
            "prediction": {"type": "content", "content": "p" * 100_000}}
    # input 7 + 4 bytes + 4 + 2 = 17 tokens; output 100 + 100,000; at the fallback 17 x 5 + 100,100 x 15
    assert "1.501585" in refusal(refusing, body)


def test_an_image_is_reserved_at_the_deployments_own_per_image_maximum(refusing):
    """A deployment declaring `max_image_tokens` (gpt-4o-mini's rule: 2,833 + 8 x 5,667) is reserved at it."""
    image = {"type": "image_url", "image_url": {"url": "https://example.org/scan.png"}}
    body = {"model": "example-vision", "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 6}, image, image]}]}
    # input 4 + 6 bytes + 4 + 2 framing + 2 x 48,169 = 96,354 tokens; output 10; at 1 EUR per million tokens
    assert "0.096364" in refusal(refusing, body)
