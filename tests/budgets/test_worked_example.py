"""The README's worked example of a reservation, through a real gateway process.

`n: 3`, `max_tokens: 500`, a 200-byte system message, a 2,000-byte user message with one
image and a 6,000-byte `tools` array, routed to a deployment at 2.50 / 10.00 EUR per
million tokens whose catalogue fallback costs 5 / 15: the README says 0.070825 EUR is
reserved. With a budget one micro-euro short, the 429 names exactly that figure.
"""

from __future__ import annotations

import httpx
import orjson

from gateway.request.tokens import input_bound
from tests.processes import mock_model, policy_for, start_gateway, stop

UPSTREAM = "http://127.0.0.1:9/v1"  # never called: the request is refused before the call
CATALOGUE = (
    "version: worked-example\nmodels:"
    + mock_model("example-primary", "small", UPSTREAM, "2.50", "10.00", max_output_tokens=4096)
    + mock_model("example-fallback", "small", UPSTREAM, "5.00", "15.00", max_output_tokens=4096)
    + mock_model("example-medium", "medium", UPSTREAM, "1", "1")  # the policy needs every tier
    + mock_model("example-large", "large", UPSTREAM, "1", "1")
    + "\nfallbacks:\n  example-primary: [example-fallback]\n"
)
POLICY_FALLBACKS = {"small": ["example-primary"], "medium": ["example-medium"], "large": ["example-large"]}


def tools_of(size: int) -> list[dict]:
    """A `tools` array of exactly `size` bytes of JSON."""
    tools = [{"type": "function", "function": {"name": "lookup", "description": ""}}]
    tools[0]["function"]["description"] = "d" * (size - len(orjson.dumps(tools)))
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


def test_the_worked_example_reserves_0_070825_eur_at_the_fallbacks_price(tmp_path):
    gateway = start_gateway(
        tmp_path, CATALOGUE,
        {"SOBRIA_BUDGETS__EMPLOYEE__EUR": "0.070824", "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000"},
        policy_yaml=policy_for(POLICY_FALLBACKS),
    )
    try:
        key = gateway.create_key("worked-example", "finance")
        refused = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=worked_example(), timeout=30,
                             headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"})
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert "0.070825" in error["message"] and "0.070824" in error["message"], error["message"]
    finally:
        stop(gateway.process)
