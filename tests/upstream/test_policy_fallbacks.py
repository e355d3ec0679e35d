"""The routing policy's fallbacks are tried, in order, before the catalogue's."""

from __future__ import annotations

from gateway.providers.catalogue import Catalogue
from gateway.providers.upstream import UpstreamCall
from policies.engine import PolicyEngine
from tests.upstream.test_contract import MESSAGES, calls_to

POLICY = """
defaults: {general_use_case: general}
use_cases:
  - {id: general, name: General, tier: small, examples: [hello]}
fallbacks:
  small: [fail-500-backup, ok-backup]
"""


def _call(model: str, fallbacks: tuple[str, ...]) -> UpstreamCall:
    return UpstreamCall(model=model, messages=MESSAGES, max_tokens=None, params={}, fallbacks=fallbacks)


async def test_a_fallback_named_only_in_the_policy_serves(make_upstream):
    upstream = make_upstream(fallbacks={}, retries=0)
    body, served = await upstream.complete(_call("fail-500", ("ok-backup",)), upstream.catalogue.get("fail-500"))
    assert served == "ok-backup" and body["choices"][0]["message"]["content"]


async def test_policy_fallbacks_come_first_in_their_order_then_the_catalogue(make_upstream, mock_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["ok-backup"]}, retries=0)
    before = calls_to(mock_upstream, "fail-500-backup")
    _, served = await upstream.complete(
        _call("fail-500", ("fail-500-backup", "ok")), upstream.catalogue.get("fail-500")
    )
    assert served == "ok"
    assert calls_to(mock_upstream, "fail-500-backup") - before == 1


async def test_the_catalogue_chain_still_follows_a_failing_policy_chain(make_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["ok-backup"]}, retries=0)
    _, served = await upstream.complete(_call("fail-500", ("fail-500-backup",)), upstream.catalogue.get("fail-500"))
    assert served == "ok-backup"


async def test_the_engine_hands_the_policy_chain_to_the_upstream(make_upstream):
    upstream = make_upstream(fallbacks={}, retries=0)
    catalogue: Catalogue = upstream.catalogue
    engine = PolicyEngine.from_text(POLICY.replace("tier: small", "tier: small, allowed_models: [fail-500]"), catalogue)
    from tests.policies.conftest import make_request

    decision = engine.decide(make_request(model="fail-500"))
    assert decision.model == "fail-500"
    assert decision.fallbacks == ("fail-500-backup", "ok-backup")
    _, served = await upstream.complete(_call(decision.model, decision.fallbacks), catalogue.get("fail-500"))
    assert served == "ok-backup"
