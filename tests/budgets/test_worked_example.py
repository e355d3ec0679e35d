"""The README's worked example of a reservation, through a real gateway process.

`n: 3`, `max_tokens: 500`, a 200-byte system message, a 2,000-byte user message with one
image and a 6,000-byte `tools` array, routed to a deployment at 2.50 / 10.00 EUR per
million tokens whose catalogue fallback costs 5 / 15: the README says 0.070825 EUR is
reserved. With a budget one micro-euro short, the 429 names exactly that figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.providers.catalogue import Catalogue
from gateway.request.tokens import IMAGE_HIGH_DETAIL_MAX_TOKENS, input_bound
from tests.processes import mock_model, policy_for, start_gateway, stop

UPSTREAM = "http://127.0.0.1:9/v1"  # never called: the request is refused before the call
SHIPPED = Catalogue.load(env={})
MISTRAL_LARGE_IMAGE = SHIPPED.get("mistral-large").max_image_tokens  # type: ignore[union-attr]
CATALOGUE = (
    "version: worked-example\nmodels:"
    + mock_model("example-primary", "small", UPSTREAM, "2.50", "10.00", max_output_tokens=4096)
    + mock_model("example-fallback", "small", UPSTREAM, "5.00", "15.00", max_output_tokens=4096)
    + mock_model("example-vision", "small", UPSTREAM, "1", "1").replace(
        "    max_output_tokens:", "    max_image_tokens: 48169\n    max_output_tokens:")
    + mock_model("example-mistral", "small", UPSTREAM, "20", "20").replace(  # the shipped mistral-large's rule
        "    max_output_tokens:", f"    max_image_tokens: {MISTRAL_LARGE_IMAGE}\n    max_output_tokens:")
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


def test_an_image_routed_to_the_mistral_deployment_is_reserved_at_its_declared_figure(refusing):
    """mistral-large's 3,080 tokens per image, not the tile rule's 1,445: at the tile rule the
    same request (58,320 micro-euros) would fit the budget and be sent."""
    image = {"type": "image_url", "image_url": {"url": "https://example.org/scan.png"}}
    body = {"model": "example-mistral", "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 6}, image, image]}]}
    # input 4 + 6 bytes + 4 + 2 framing + 2 x 3,080 = 6,176 tokens; output 10; at 20 EUR per million tokens
    assert MISTRAL_LARGE_IMAGE == 3080
    assert "may need up to 0.12372. " in refusal(refusing, body)


def mistral_image_tokens(max_size: int, pixels_per_token: int) -> int:
    """The most a Mistral tokenizer spends on one image: fitted in `max_size` px, one token per
    `pixels_per_token` square (patch times merge) in each of its rows, plus one [IMG_BREAK] per
    row, the last of which is [IMG_END] (mistral-common's ImageEncoder)."""
    side = math.ceil(max_size / pixels_per_token)
    return side * side + side


def test_the_shipped_mistral_deployments_declare_the_most_one_image_can_cost():
    """Large 3: 1540 px at 28 px per token (docs.mistral.ai vision FAQ). Small 4 and Medium 3.5:
    1540 px in 14-px patches, merge unpublished, so bounded unmerged. Each is above the tile rule,
    which would let usage be clamped below what Mistral bills."""
    declared = {name: SHIPPED.get(name).max_image_tokens
                for name in ("mistral-small", "mistral-medium", "mistral-large")}
    assert declared == {
        "mistral-small": mistral_image_tokens(1540, 14),
        "mistral-medium": mistral_image_tokens(1540, 14),
        "mistral-large": mistral_image_tokens(1540, 28),
    }
    assert (mistral_image_tokens(1540, 28), mistral_image_tokens(1540, 14)) == (3080, 12210)
    assert all(figure > IMAGE_HIGH_DETAIL_MAX_TOKENS for figure in declared.values())


def test_gpt_4_1_mini_declares_its_patch_rule_above_the_tile_rule():
    """GPT-4.1 models: at most 1,536 32-px patches, times 1.62 for the mini model."""
    assert SHIPPED.get("gpt-4.1-mini").max_image_tokens == math.ceil(1536 * 1.62) > IMAGE_HIGH_DETAIL_MAX_TOKENS
