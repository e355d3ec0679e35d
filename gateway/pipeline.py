"""The request path of a chat completion, one readable step per stage.

route -> reserve -> call upstream -> estimate -> settle -> record. Each stage is a
plain object given to `ChatPipeline`; this module only sequences them and makes sure
that whatever happens (refusal, provider failure, client gone mid-stream) the budget
reservation is settled or released and exactly one ledger record is written.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson

from estimators.impacts import Impacts
from gateway.auth import Principal
from gateway.budget_gate import BudgetGate, format_micro
from gateway.budgets.store import Amount
from gateway.catalogue import Catalogue, ModelSpec
from gateway.content_log import ContentLog, completion_text
from gateway.errors import GatewayError
from gateway.flight import ChatRequest, Flight, Outcome
from gateway.i18n import translate
from gateway.ledger.records import usage_record
from gateway.ledger.writer import LedgerWriter
from gateway.outcome import base_headers, completion_outcome, format_figure
from gateway.ratelimit import RateLimiter
from gateway.relay import StreamPiece
from gateway.telemetry import Telemetry
from gateway.tokens import message_text, prompt_tokens, text_tokens
from gateway.upstream import PASSTHROUGH, Upstream, UpstreamCall
from policies.decision import PolicyDenied, RoutingDecision, RoutingRequest

log = logging.getLogger("sobria.pipeline")


class ChatPipeline:
    """Runs chat completions through routing, budgets, upstream, estimation and the ledger."""

    def __init__(
        self,
        catalogue: Catalogue,
        policy: Any,
        upstream: Upstream,
        estimator: Any,
        budgets: BudgetGate,
        ledger: LedgerWriter,
        demo_output_tokens: int = 120,
        rate_limiter: RateLimiter | None = None,
        content_log: ContentLog | None = None,
        inventory: Any | None = None,
        telemetry: Telemetry | None = None,
        footprint: Any | None = None,
    ):
        self.catalogue = catalogue
        self.policy = policy
        self.upstream = upstream
        self.estimator = estimator
        self.budgets = budgets
        self.ledger = ledger
        self.demo_output_tokens = demo_output_tokens
        self.rate_limiter = rate_limiter
        self.content_log = content_log
        self.inventory = inventory  # the register's status gate; None: every policy use case may serve
        self.telemetry = telemetry or Telemetry()
        self.footprint = footprint  # measured mode (gateway.footprint.Footprint); None: estimates only

    # -- stages -------------------------------------------------------------------

    def route(self, flight: Flight) -> None:
        request = flight.request
        # The classifier reads the prompt only when the caller named no use case, and then
        # the last user turn: in a long chat, what is asked now decides, not the opening request.
        user_turns = [] if request.use_case else [m for m in request.messages if m.get("role") == "user"]
        prompt = message_text(user_turns[-1]) if user_turns else ""
        routing = RoutingRequest(
            requested_model=request.model,
            use_case=request.use_case,
            prompt_text=prompt,
            prompt_tokens=flight.input_tokens_estimate,
            department=flight.principal.department,
            roles=flight.principal.roles,
            now=flight.started_at,
            max_tokens=request.max_tokens,
        )
        decision = self._decide(routing)
        if self.inventory is not None:
            decision = self._admitted(routing, decision)
        spec = self.catalogue.get(decision.model)
        if spec is None:
            raise GatewayError(404, "model_not_found", param="model", model=decision.model)
        flight.decision, flight.spec = decision, spec
        caps = [spec.max_output_tokens]
        if request.max_tokens is not None:
            caps.append(request.max_tokens)
        if decision.max_tokens_cap is not None:
            caps.append(decision.max_tokens_cap)
        flight.max_tokens = min(caps)

    def _decide(self, routing: RoutingRequest) -> RoutingDecision:
        """The policy's decision, its refusals as the contract's errors."""
        try:
            return self.policy.decide(routing)
        except PolicyDenied as denied:
            if denied.code == "model_not_found":
                raise GatewayError(denied.status, "model_not_found", param="model", model=routing.requested_model) from None
            if denied.code == "use_case_unknown":
                raise GatewayError(403, "use_case_unknown", use_case=routing.use_case or "") from None
            raise GatewayError(denied.status, denied.code, "error.policy_denied", detail=denied.message) from None

    def _admitted(self, routing: RoutingRequest, decision: RoutingDecision) -> RoutingDecision:
        """The decision when the register lets its use case serve; otherwise the policy's
        `blocked_use_case` applies: refuse with the committee's reason, or re-route to general."""
        try:
            self.inventory.check(decision.use_case)
            return decision
        except GatewayError as blocked:
            defaults = self.policy.policy.defaults
            if defaults.blocked_use_case != "general" or decision.use_case == defaults.general_use_case:
                raise
            rerouted = self._decide(replace(routing, use_case=defaults.general_use_case))
            self.inventory.check(rerouted.use_case)
            reason = f"use case {decision.use_case!r} may not serve ({blocked.code}); {rerouted.reason}"
            return replace(rerouted, rule_id="blocked-use-case-general", reason=reason)

    def worst_case(self, flight: Flight) -> Amount:
        """Cost and carbon if the model writes every token it is allowed to (computed once per flight)."""
        if flight.bound is None:
            spec = flight.spec
            assert spec is not None and flight.max_tokens is not None
            impacts = self.estimator.estimate(spec.impact, flight.input_tokens_estimate, flight.max_tokens)
            flight.bound = Amount(
                cost_micro_eur=spec.cost_micro_eur(flight.input_tokens_estimate, flight.max_tokens),
                gwp_ug=int(impacts.gwp_g.max * 1_000_000) + 1,
            )
            flight.bound_energy_wh = impacts.energy_wh.max
        return flight.bound

    async def limit_rate(self, flight: Flight) -> None:
        """Count this request against its caller's per-minute limits (429 `rate_limited`)."""
        if self.rate_limiter is not None:
            principal = flight.principal
            caller = f"{principal.key_id}:{principal.pseudonym}" if principal.via_frontend else principal.key_id
            await self.rate_limiter.admit(caller, flight.input_tokens_estimate + (flight.max_tokens or 0))

    async def reserve(self, flight: Flight) -> None:
        flight.hold = await self.budgets.reserve(
            flight.request_id, flight.principal, flight.decision.use_case, self.worst_case(flight), flight.started_at
        )

    def upstream_call(self, flight: Flight) -> UpstreamCall:
        request, spec = flight.request, flight.spec
        assert spec is not None
        demo_text = self._demo_text(spec, flight.max_tokens or 0, request.language) if spec.is_demo else None
        return UpstreamCall(
            model=spec.name,
            messages=request.messages,
            max_tokens=flight.max_tokens,
            params={k: v for k, v in request.params.items() if k in PASSTHROUGH},
            demo_text=demo_text,
            fallbacks=flight.decision.fallbacks if flight.decision else (),
        )

    def _demo_text(self, spec: ModelSpec, max_tokens: int, language: str) -> str:
        """A placeholder answer of realistic length that says it is one."""
        hint = spec.provenance.split("(set ")[-1].split(" to call")[0] if "(set " in spec.provenance else "a provider"
        sentence = translate("demo.answer", language, model=spec.name, hint=hint)
        target = max(1, min(self.demo_output_tokens, max_tokens))
        text = sentence
        while text_tokens(text) < target:
            text = f"{text} {sentence}"
        cut = target * 4
        return text if len(text.encode()) <= cut else text.encode()[:cut].decode(errors="ignore")

    def estimate(self, spec: ModelSpec, input_tokens: int, output_tokens: int, latency_s: float | None) -> Impacts:
        return self.estimator.estimate(spec.impact, input_tokens, output_tokens, latency_s)

    async def settle(self, flight: Flight, spec: ModelSpec, input_tokens: int, output_tokens: int) -> Outcome:
        """Price and estimate the actual usage, settle the budgets, and build the outcome."""
        # A demo answer comes back in milliseconds: estimate it at the model's modelled generation time.
        latency_s = None if spec.is_demo else time.perf_counter() - flight.started
        impacts = self.estimate(spec, input_tokens, output_tokens, latency_s)
        cost = spec.cost_micro_eur(input_tokens, output_tokens)
        gwp_ug = round(impacts.gwp_g.value * 1_000_000)
        with self.telemetry.stage(flight, "sobria.budget.settle"):
            view = await self.budgets.settle(flight.hold, Amount(cost, gwp_ug), datetime.now(UTC))
        flight.hold = None
        self.record(flight, "ok", 200, input_tokens, output_tokens, cost, impacts)
        if self.footprint is not None:
            self.footprint.observe(spec.name, flight.request_id, input_tokens + output_tokens)
        return completion_outcome(flight, spec, cost, impacts, view)

    async def release(self, flight: Flight) -> None:
        if flight.hold is not None:
            hold, flight.hold = flight.hold, None
            await self.budgets.release(hold, datetime.now(UTC))

    def record(
        self,
        flight: Flight,
        status: str,
        http_status: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_micro_eur: int = 0,
        impacts: Impacts | None = None,
        error: str | None = None,
    ) -> None:
        """Append this request's one ledger record."""
        record = usage_record(flight, status, http_status, input_tokens, output_tokens, cost_micro_eur, impacts, error)
        self.ledger.append(record)
        self.telemetry.finish(flight, record)

    # -- entry points -----------------------------------------------------------------

    def start(self, principal: Principal, request: ChatRequest) -> Flight:
        flight = Flight(
            request_id=f"req_{uuid.uuid4().hex}",
            principal=principal,
            request=request,
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
            input_tokens_estimate=prompt_tokens(request.messages),
        )
        self.telemetry.begin(flight)
        return flight

    async def admit(self, flight: Flight) -> None:
        """Route and reserve; a refusal is recorded and re-raised."""
        try:
            with self.telemetry.stage(flight, "sobria.policy"):
                self.route(flight)
            await self.limit_rate(flight)
            with self.telemetry.stage(flight, "sobria.budget.reserve"):
                await self.reserve(flight)
        except GatewayError as error:
            self.record(flight, error.code, error.status, error=error.code)
            raise

    async def complete(self, flight: Flight) -> tuple[dict[str, Any], Outcome]:
        """Non-streaming completion: the response body (with usage.sobria) and the outcome."""
        await self.admit(flight)
        spec = flight.spec
        assert spec is not None
        try:
            with self.telemetry.upstream(flight, spec, self.upstream.path(spec.name)):
                response, flight.served = await self.upstream.complete(self.upstream_call(flight), spec)
            served_spec = self.catalogue.get(flight.served) or spec
            body = response
            input_tokens, output_tokens = self._usage(flight, served_spec, body)
            outcome = await self.settle(flight, served_spec, input_tokens, output_tokens)
            if self.content_log is not None:
                self.content_log.record(
                    flight.request_id, flight.principal.pseudonym, flight.request.messages, completion_text(body)
                )
        except BaseException as error:
            await self._fail(flight, error)
            raise
        body["model"] = flight.served
        usage = body.setdefault("usage", {})
        usage.update(
            prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens
        )
        usage["sobria"] = outcome.sobria
        return body, outcome

    def _usage(self, flight: Flight, spec: ModelSpec, body: dict[str, Any]) -> tuple[int, int]:
        """Token counts: the provider's, except for demo answers which are counted here."""
        if spec.is_demo:
            text = "".join(
                (c.get("message") or {}).get("content") or "" for c in body.get("choices", [])
            )
            return flight.input_tokens_estimate, text_tokens(text)
        usage = body.get("usage") or {}
        return int(usage.get("prompt_tokens") or flight.input_tokens_estimate), int(
            usage.get("completion_tokens") or 0
        )

    async def _fail(self, flight: Flight, error: BaseException) -> None:
        """Release the reservation and record the failure (shielded from cancellation)."""
        with anyio.CancelScope(shield=True):
            await self.release(flight)
            if isinstance(error, GatewayError):
                self.record(flight, error.code, error.status, error=error.code)
            else:
                self.record(flight, "internal", 500, error=type(error).__name__)

    async def stream(self, flight: Flight) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        """Streaming completion: SSE byte chunks and the headers known before the first one.

        Cost and impact headers of a stream carry the reservation's upper bound, since
        they leave before the answer is written; the exact figures come in the final
        chunk's `usage.sobria`."""
        await self.admit(flight)
        spec = flight.spec
        assert spec is not None
        try:
            with self.telemetry.upstream(flight, spec, self.upstream.path(spec.name)):
                chunks, flight.served = await self.upstream.stream(self.upstream_call(flight), spec)
        except BaseException as error:
            await self._fail(flight, error)
            raise
        served_spec = self.catalogue.get(flight.served) or spec
        bound = self.worst_case(flight)
        headers = base_headers(flight, served_spec)
        headers.update(
            {
                "X-Sobria-Figures": "upper-bound; exact figures in the final chunk's usage.sobria",
                "X-Sobria-Cost-EUR": format_micro(bound.cost_micro_eur),
                "X-Sobria-CO2e-g": format_figure(bound.gwp_ug / 1_000_000),
                "X-Sobria-Energy-Wh": format_figure(flight.bound_energy_wh),
                "X-Sobria-Budget-Remaining-EUR": flight.hold.remaining_eur if flight.hold else "",
                "X-Sobria-Carbon-Budget-Remaining-g": flight.hold.remaining_gco2e if flight.hold else "",
            }
        )
        return self._relay(flight, served_spec, chunks), headers

    async def _relay(self, flight: Flight, spec: ModelSpec, chunks: AsyncIterator[StreamPiece]) -> AsyncIterator[bytes]:
        """Relay the upstream's SSE events as they are; settle on what was generated, however the stream ends."""
        generated: list[str] = []
        provider_usage: dict[str, Any] | None = None
        last: dict[str, Any] | None = None
        finished = False
        try:
            async for piece in chunks:
                if piece.usage:
                    provider_usage = piece.usage
                if piece.text:
                    generated.append(piece.text)
                    if flight.ttft_ms is None:
                        flight.ttft_ms = (time.perf_counter() - flight.started) * 1000
                if piece.id is not None:
                    last = {"id": piece.id, "created": piece.created}
                if piece.sse:
                    yield piece.sse
            output_tokens = text_tokens("".join(generated))
            input_tokens = flight.input_tokens_estimate
            if provider_usage and not spec.is_demo:
                input_tokens = int(provider_usage.get("prompt_tokens") or input_tokens)
                output_tokens = int(provider_usage.get("completion_tokens") or output_tokens)
            outcome = await self.settle(flight, spec, input_tokens, output_tokens)
            finished = True
            if self.content_log is not None:
                self.content_log.record(
                    flight.request_id, flight.principal.pseudonym, flight.request.messages, "".join(generated)
                )
            final = {
                "id": (last or {}).get("id", flight.request_id),
                "object": "chat.completion.chunk",
                "created": (last or {}).get("created", int(time.time())),
                "model": flight.served,
                "choices": [],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                    "sobria": outcome.sobria,
                },
            }
            yield b"data: " + orjson.dumps(final) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except GatewayError as error:
            if generated:
                await self._cut(flight, spec, generated, error.code, error.status)
            else:
                await self._fail(flight, error)
            finished = True
            body = {"error": {"message": error.message(flight.request.language), "type": "api_error",
                              "code": error.code, "param": None}}
            yield b"data: " + orjson.dumps(body) + b"\n\n"
        finally:
            if not finished:
                await self._cut(flight, spec, generated)

    async def _cut(
        self,
        flight: Flight,
        spec: ModelSpec,
        generated: list[str],
        status: str = "client_disconnected",
        http_status: int = 499,
    ) -> None:
        """The client left, or the provider broke off, mid-stream: settle what was generated."""
        with anyio.CancelScope(shield=True):
            output_tokens = text_tokens("".join(generated))
            latency_s = None if spec.is_demo else time.perf_counter() - flight.started
            impacts = self.estimate(spec, flight.input_tokens_estimate, output_tokens, latency_s)
            cost = spec.cost_micro_eur(flight.input_tokens_estimate, output_tokens)
            if flight.hold is not None:
                hold, flight.hold = flight.hold, None
                await self.budgets.settle(hold, Amount(cost, round(impacts.gwp_g.value * 1_000_000)), datetime.now(UTC))
            self.record(flight, status, http_status, flight.input_tokens_estimate, output_tokens, cost, impacts)
