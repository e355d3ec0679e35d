"""Calls to the chosen deployment: the lean relay or litellm's Router, one contract.

Each deployment is reached by one of two paths, chosen once at start-up: the lean
relay (`gateway.providers.relay`) when it speaks OpenAI's protocol, litellm's `Router` for every
other provider. Demo models are answered in process by `gateway.providers.demo`. Retries, fallbacks, timeouts and error mapping are done here, the same way for
both paths, so both pass the same contract tests: a deployment is tried
`1 + retries` times on a 5xx, timeout or connection failure, then the routing
policy's fallbacks for it in order, then the catalogue's; a 4xx from the provider is returned at once. Failures become
`GatewayError`s with the contract's 400/502/504 codes.

`upstream_relay: false` (`SOBRIA_UPSTREAM_RELAY=off`) sends every deployment through litellm (for comparison).
litellm itself is imported only when some deployment needs it (`gateway.providers.litellm_path`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gateway.providers.catalogue import Catalogue, ModelSpec
from gateway.providers.demo import demo_completion, demo_stream
from gateway.edge.errors import GatewayError
from gateway.providers.relay import Relay, StreamPiece, Target, target_for

if TYPE_CHECKING:
    from gateway.providers.litellm_path import LitellmPath

log = logging.getLogger("sobria.upstream")

#: Request fields passed through to the provider unchanged.
PASSTHROUGH = (
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "user",
    "reasoning_effort",
    "verbosity",
    "modalities",
    "audio",
    "prediction",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "web_search_options",
)

_T = TypeVar("_T")


@dataclass(slots=True)
class UpstreamCall:
    """One call as the upstream layer needs it."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None
    params: dict[str, Any]
    demo_text: str | None = None
    #: Whether the cap must be sent (the caller or the policy asked for one below the model's own limit).
    send_cap: bool = True
    #: The field the caller used for its cap (`max_tokens` or `max_completion_tokens`).
    cap_field: str = "max_tokens"
    fallbacks: tuple[str, ...] = ()  # the routing policy's chain, tried before the catalogue's


RETRYABLE_CODES = frozenset({"upstream_error", "upstream_timeout"})  # the provider failed: try again, or the next one


class ErrorCounter(Protocol):
    """Told about every failed attempt (for the upstream error metric)."""

    def upstream_error(self, deployment: str, code: str) -> None: ...


class Upstream:
    """The provider side of the gateway: relay targets, one litellm Router, fallbacks."""

    def __init__(
        self,
        catalogue: Catalogue,
        timeout_s: float,
        retries: int,
        relay: bool = True,
        errors: ErrorCounter | None = None,
        max_connections: int = 10_000,
    ):
        self.catalogue = catalogue
        self.retries = max(0, retries)
        self.errors = errors
        self.targets: dict[str, Target] = {}
        if relay:
            for spec in catalogue.all():
                target = target_for(spec)
                if target is not None:
                    self.targets[spec.name] = target
        self.relay = Relay(timeout_s, max_connections)
        self.litellm: LitellmPath | None = None
        if any(spec.name not in self.targets and not spec.is_demo for spec in catalogue.all()):
            from gateway.providers.litellm_path import LitellmPath

            self.litellm = LitellmPath(catalogue, timeout_s)

    def path(self, name: str) -> str:
        """`relay`, `litellm` or `demo`: how a deployment is reached."""
        if name in self.targets:
            return "relay"
        spec = self.catalogue.get(name)
        return "demo" if spec is not None and spec.is_demo else "litellm"

    async def aclose(self) -> None:
        await self.relay.aclose()

    # -- one attempt on one deployment, per path --------------------------------------

    def _payload(self, call: UpstreamCall, cap_field: str) -> dict[str, Any]:
        """The body as the caller sent it, with the output cap in the field the target accepts.

        The cap is sent only when it is below the model's own limit (the caller or the
        policy asked for it): reasoning models refuse `max_tokens`, and a cap equal to
        the model's maximum tells the provider nothing."""
        payload: dict[str, Any] = {"messages": call.messages, **call.params}
        if call.max_tokens is not None and call.send_cap:
            payload[cap_field] = call.max_tokens
        return payload

    def _litellm_kwargs(self, call: UpstreamCall, spec: ModelSpec) -> dict[str, Any]:
        # litellm maps either cap field to the provider's own; it keeps the caller's choice.
        return {"model": spec.name, **self._payload(call, call.cap_field)}

    async def _complete_once(self, call: UpstreamCall, spec: ModelSpec) -> dict[str, Any]:
        if spec.is_demo:
            return demo_completion(spec.name, call.messages, call.params, call.demo_text or "")
        target = self.targets.get(spec.name)
        if target is not None:
            return await self.relay.complete(target, self._payload(call, target.cap_field or call.cap_field))
        assert self.litellm is not None
        return await self.litellm.complete(self._litellm_kwargs(call, spec))

    async def _stream_once(self, call: UpstreamCall, spec: ModelSpec) -> AsyncIterator[StreamPiece]:
        if spec.is_demo:
            return demo_stream(spec.name, call.messages, call.params, call.demo_text or "")
        target = self.targets.get(spec.name)
        if target is not None:
            return await self.relay.stream(target, self._payload(call, target.cap_field or call.cap_field), spec.name)
        assert self.litellm is not None
        return await self.litellm.stream(self._litellm_kwargs(call, spec), spec.name)

    async def embed(self, spec: ModelSpec, inputs: Any, params: dict[str, Any]) -> dict[str, Any]:
        """One embeddings call (retried like completions; embedding models have no fallbacks)."""
        last: GatewayError | None = None
        for _ in range(1 + self.retries):
            try:
                target = self.targets.get(spec.name)
                if target is not None:
                    return await self.relay.embed(target, inputs, params)
                assert self.litellm is not None
                return await self.litellm.embed(spec.name, inputs, params)
            except GatewayError as error:
                last = error
                if self.errors is not None:
                    self.errors.upstream_error(spec.name, error.code)
                if error.code not in RETRYABLE_CODES:
                    raise
        assert last is not None
        raise last

    # -- the contract: retries then fallbacks -----------------------------------------

    def candidates(self, spec: ModelSpec, policy_fallbacks: tuple[str, ...] = ()) -> list[ModelSpec]:
        """The deployment asked for, then the policy's fallbacks in order, then the
        catalogue's (never a demo one for a real call, never one twice)."""
        chain = [spec]
        for name in (*policy_fallbacks, *self.catalogue.fallbacks.get(spec.name, ())):
            other = self.catalogue.get(name)
            if other is not None and other not in chain and (spec.is_demo or not other.is_demo):
                chain.append(other)
        return chain

    async def _with_fallbacks(
        self, call: UpstreamCall, spec: ModelSpec, attempt: Callable[[UpstreamCall, ModelSpec], Awaitable[_T]]
    ) -> tuple[_T, str]:
        last: GatewayError | None = None
        for candidate in self.candidates(spec, call.fallbacks):
            for _ in range(1 + self.retries):
                try:
                    return await attempt(call, candidate), candidate.name
                except GatewayError as error:
                    last = error
                    if self.errors is not None:
                        self.errors.upstream_error(candidate.name, error.code)
                    if error.code not in RETRYABLE_CODES:
                        raise
                    log.warning("upstream %s failed: %s", candidate.name, error.code)
        assert last is not None
        raise last

    async def complete(self, call: UpstreamCall, spec: ModelSpec) -> tuple[dict[str, Any], str]:
        """Non-streaming call; returns (OpenAI-shaped answer as a dict, model that served)."""
        return await self._with_fallbacks(call, spec, self._complete_once)

    async def stream(self, call: UpstreamCall, spec: ModelSpec) -> tuple[AsyncIterator[StreamPiece], str]:
        """Streaming call; returns (pieces to relay, model that serves). Retries and
        fallbacks apply until the stream opens; a failure after that ends the stream
        with a `GatewayError`."""
        return await self._with_fallbacks(call, spec, self._stream_once)
