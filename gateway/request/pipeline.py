"""The request path of a chat completion, one readable step per stage.

route -> reserve -> call upstream -> estimate -> settle -> record. Each stage is a
plain object given to `ChatPipeline`; this module only sequences them and makes sure
that whatever happens (refusal, provider failure, client gone mid-stream) the budget
reservation is settled or released and exactly one ledger record is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import orjson

from estimators.impacts import ImpactProfile, Impacts, ReservationBound
from gateway.identity.auth import Principal
from gateway.budgets.gate import BudgetGate, format_micro
from gateway.budgets.store import Amount
from gateway.providers.catalogue import Catalogue, ModelSpec
from gateway.request.content_log import ContentLog, completion_text
from contracts.errors import DomainError
from gateway.edge.errors import GatewayError, code_and_status
from gateway.request.flight import ChatRequest, Flight, Outcome
from gateway.i18n import translate
from gateway.ledger.records import LedgerRecord, usage_record
from gateway.request.outcome import (
    base_headers,
    charged_usage,
    completion_outcome,
    format_figure,
)
from gateway.budgets.ratelimit import RateLimiter
from gateway.providers.relay import StreamPiece
from gateway.observability.telemetry import Telemetry
from gateway.request.tokens import (
    choices_asked,
    completion_output_tokens,
    input_bound,
    message_text,
    prediction_bound,
    text_tokens,
    unpriced_option,
)
from gateway.providers.upstream import PASSTHROUGH, Upstream, UpstreamCall
from policies.decision import PolicyDenied, RoutingDecision, RoutingRequest
from policies.schema import Policy

log = logging.getLogger("sobria.pipeline")

#: Prefix of the SSE comment that ends a stream whose caller did not ask for usage.
SOBRIA_TRAILER = b": sobria-usage "


def generated_text(body: dict[str, Any]) -> str:
    """What a chat completion generated, in every choice: text and tool-call arguments."""
    parts: list[str] = []
    for choice in body.get("choices") or ():
        message = choice.get("message") or {}
        parts.append(message.get("content") or "")
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return "".join(parts)


class Router(Protocol):
    """The routing policy as the pipeline uses it (`policies.engine.PolicyEngine`)."""

    @property
    def policy(self) -> Policy: ...

    def decide(self, request: RoutingRequest) -> RoutingDecision: ...


class Estimator(Protocol):
    """Impacts of one request (`estimators.hosted.HostedEstimator`)."""

    def estimate(
        self, profile: ImpactProfile, input_tokens: int, output_tokens: int, latency_s: float | None = None
    ) -> Impacts: ...

    def reservation_bounds(self, requests: Sequence[tuple[ImpactProfile, int, int]]) -> list[ReservationBound]: ...


class LedgerSink(Protocol):
    """Where a request's ledger row goes (`gateway.ledger.writer.LedgerWriter`)."""

    def append(self, record: dict[str, Any]) -> None: ...


class UseCaseGate(Protocol):
    """The register's status gate (`gateway.inventory.gate.StatusGate`): raises when a use case may not serve."""

    def check(self, use_case: str) -> None: ...


class FootprintSink(Protocol):
    """Measured mode (`gateway.observability.footprint.Footprint`): the tokens each request served, per model."""

    def observe(self, model: str, request_id: str, tokens: int) -> None: ...


class ChatPipeline:
    """Runs chat completions through routing, budgets, upstream, estimation and the ledger."""

    def __init__(
        self,
        catalogue: Catalogue,
        policy: Router,
        upstream: Upstream,
        estimator: Estimator,
        budgets: BudgetGate,
        ledger: LedgerSink,
        demo_output_tokens: int = 120,
        rate_limiter: RateLimiter | None = None,
        content_log: ContentLog | None = None,
        inventory: UseCaseGate | None = None,
        telemetry: Telemetry | None = None,
        footprint: FootprintSink | None = None,
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
        self.footprint = footprint  # measured mode; None: estimates only

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
        if spec.kind != "chat":
            raise GatewayError(400, "invalid_request", param="model", detail=f"{spec.name} serves /v1/embeddings only")
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
                raise GatewayError(404, "model_not_found", param="model", model=routing.requested_model) from None
            if denied.code == "use_case_unknown":
                raise GatewayError(403, "use_case_unknown", use_case=routing.use_case or "") from None
            raise GatewayError(403, denied.code, "error.policy_denied", detail=denied.message) from None

    def _admitted(self, routing: RoutingRequest, decision: RoutingDecision) -> RoutingDecision:
        """The decision when the register lets its use case serve; otherwise the policy's
        `blocked_use_case` applies: refuse with the committee's reason, or re-route to general."""
        if self.inventory is None:
            return decision
        try:
            self.inventory.check(decision.use_case)
            return decision
        except DomainError as blocked:
            defaults = self.policy.policy.defaults
            if defaults.blocked_use_case != "general" or decision.use_case == defaults.general_use_case:
                raise
            rerouted = self._decide(replace(routing, use_case=defaults.general_use_case))
            self.inventory.check(rerouted.use_case)
            reason = f"use case {decision.use_case!r} may not serve ({blocked.code}); {rerouted.reason}"
            return replace(rerouted, rule_id="blocked-use-case-general", reason=reason)

    def deployments(self, flight: Flight) -> list[ModelSpec]:
        """Every deployment this request may be served by: the routed one, the catalogue's
        fallbacks the upstream layer tries, and the policy's fallback chain."""
        spec = flight.spec
        assert spec is not None
        chain = list(self.upstream.candidates(spec)) if hasattr(self.upstream, "candidates") else [spec]
        for name in flight.decision.fallbacks if flight.decision else ():
            other = self.catalogue.get(name)
            if other is not None and other not in chain and (spec.is_demo or not other.is_demo):
                chain.append(other)
        return chain

    def worst_case(self, flight: Flight) -> Amount:
        """Cost and carbon if the most expensive deployment the request may reach writes
        every token it is allowed to, for every choice (computed once per flight)."""
        if flight.bound is None:
            assert flight.max_tokens is not None
            output_tokens = flight.output_tokens_bound
            chain = [(spec, flight.input_tokens_bound_for(spec.max_image_tokens)) for spec in self.deployments(flight)]
            bounds = self.estimator.reservation_bounds(
                [(spec.impact, input_tokens, output_tokens) for spec, input_tokens in chain]
            )  # the documented bound (METHODOLOGY.md)
            cost = max([0, *(spec.cost_micro_eur(input_tokens, output_tokens) for spec, input_tokens in chain)])
            flight.bound = Amount(cost_micro_eur=cost, gwp_ug=max([0, *(bound.gwp_ug for bound in bounds)]))
            flight.bound_energy_wh = max([0.0, *(bound.energy_wh for bound in bounds)])
        return flight.bound

    async def limit_rate(self, flight: Flight) -> None:
        """Count this request against its caller's per-minute limits (429 `rate_limited`)."""
        if self.rate_limiter is not None:
            principal = flight.principal
            caller = f"{principal.key_id}:{principal.pseudonym}" if principal.via_frontend else principal.key_id
            await self.rate_limiter.admit(caller, flight.input_tokens_estimate + (flight.max_tokens or 0))

    async def reserve(self, flight: Flight) -> None:
        if flight.decision is None:
            raise RuntimeError("a flight is reserved only once routed")
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
            send_cap=request.max_tokens is not None or (flight.max_tokens or 0) < spec.max_output_tokens,
            cap_field=request.cap_field,
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
        input_tokens, output_tokens = impacts.counted_tokens or (input_tokens, output_tokens)  # clamped, with a warning
        cost = spec.cost_micro_eur(input_tokens, output_tokens)
        gwp_ug = round(impacts.gwp_g.value * 1_000_000)
        if flight.hold is None:
            raise RuntimeError("a flight is settled only once reserved")
        with self.telemetry.stage(flight, "sobria.budget.settle"):
            view = await self.budgets.settle(flight.hold, Amount(cost, gwp_ug), datetime.now(UTC))
        flight.hold = None
        flight.usage_source = flight.usage_source or "provider"
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
        """Append this request's one ledger record, and tell telemetry it ended."""
        record: LedgerRecord = usage_record(
            flight, status, http_status, input_tokens, output_tokens, cost_micro_eur, impacts, error
        )
        self.ledger.append(record.row())
        self.telemetry.finish(flight, record)

    # -- entry points -----------------------------------------------------------------

    def start(self, principal: Principal, request: ChatRequest) -> Flight:
        bound = input_bound(request.messages, request.params)
        flight = Flight(
            request_id=f"req_{uuid.uuid4().hex}",
            principal=principal,
            request=request,
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
            input_tokens_estimate=bound.estimate,
            input_tokens_bound=bound.worst,
            images=bound.images,
            image_tokens=bound.image_tokens,
            prediction_tokens_bound=prediction_bound(request.params),
        )
        self.telemetry.begin(flight)
        return flight

    async def admit(self, flight: Flight) -> None:
        """Route and reserve; a refusal is recorded and re-raised."""
        try:
            try:
                flight.choices = choices_asked(flight.request.params)
            except ValueError as invalid:
                raise GatewayError(400, "invalid_request", param="n", detail=str(invalid)) from None
            unpriced = unpriced_option(flight.request.params)
            if unpriced is not None:
                raise GatewayError(400, "unpriced_option", param=unpriced, option=unpriced)
            with self.telemetry.stage(flight, "sobria.policy"):
                self.route(flight)
            await self.limit_rate(flight)
            with self.telemetry.stage(flight, "sobria.budget.reserve"):
                await self.reserve(flight)
        except (GatewayError, DomainError) as error:
            code, status = code_and_status(error)
            self.record(flight, code, status, error=code)
            raise

    async def complete(self, flight: Flight) -> tuple[dict[str, Any], Outcome]:
        """Non-streaming completion: the response body (with usage.sobria) and the outcome."""
        await self.admit(flight)
        spec = flight.spec
        assert spec is not None
        renewing = self._keep_held(flight)
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
        finally:
            renewing.cancel()
        body["model"] = flight.served
        usage = body.setdefault("usage", {})
        usage.update(
            prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens
        )
        usage["sobria"] = outcome.sobria
        return body, outcome

    def _usage(self, flight: Flight, spec: ModelSpec, body: dict[str, Any]) -> tuple[int, int]:
        """Token counts: the provider's when plausible, else counted here (demo answers always)."""
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        return self._charged(flight, spec, usage, completion_output_tokens(body))

    def _charged(
        self, flight: Flight, spec: ModelSpec, usage: dict[str, Any] | None, counted_output: int
    ) -> tuple[int, int]:
        charged = charged_usage(
            usage,
            flight.input_tokens_estimate,
            counted_output,
            flight.input_tokens_bound_for(spec.max_image_tokens),
            flight.output_tokens_bound,
            flight.request_id,
            trust_provider=not spec.is_demo,
        )
        flight.usage_source = charged.source
        return charged.input_tokens, charged.output_tokens

    def _keep_held(self, flight: Flight) -> asyncio.Task[None]:
        """Renew the flight's hold every third of the reservation TTL until cancelled, so a
        request outliving the TTL (a long stream, a slow provider) keeps what it reserved."""

        async def renew() -> None:
            every = self.budgets.renew_interval_s
            while True:
                await asyncio.sleep(every)
                if flight.hold is None:
                    return
                try:
                    await self.budgets.renew(flight.hold, datetime.now(UTC))
                except Exception:
                    log.warning("could not renew the hold of %s", flight.request_id, exc_info=True)

        return asyncio.get_running_loop().create_task(renew(), name=f"sobria-hold-{flight.request_id}")

    async def _fail(self, flight: Flight, error: BaseException) -> None:
        """Release the reservation and record the failure (shielded from cancellation)."""
        with anyio.CancelScope(shield=True):
            await self.release(flight)
            if isinstance(error, (GatewayError, DomainError)):
                code, status = code_and_status(error)
                self.record(flight, code, status, error=code)
            else:
                self.record(flight, "internal", 500, error=type(error).__name__)

    async def stream(
        self, flight: Flight, disconnected: Callable[[], Awaitable[bool]] | None = None
    ) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        """Streaming completion: SSE byte chunks and the headers known before the first one.

        Cost and impact headers of a stream carry the reservation's upper bound, since
        they leave before the answer is written; the exact figures come in the final
        chunk's `usage.sobria`. `disconnected` tells whether the client is gone, so that
        an answer nobody received is recorded as `client_disconnected`, not `ok`."""
        await self.admit(flight)
        spec = flight.spec
        assert spec is not None
        renewing = self._keep_held(flight)
        try:
            with self.telemetry.upstream(flight, spec, self.upstream.path(spec.name)):
                chunks, flight.served = await self.upstream.stream(self.upstream_call(flight), spec)
        except BaseException as error:
            await self._fail(flight, error)
            raise
        finally:
            renewing.cancel()  # the relay renews from here on
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
        return self._relay(flight, served_spec, chunks, disconnected), headers

    async def _relay(
        self,
        flight: Flight,
        spec: ModelSpec,
        chunks: AsyncIterator[StreamPiece],
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[bytes]:
        """Relay the upstream's SSE events as they are; settle on what was generated, however
        the stream ends. The hold is renewed while the stream runs, so it outlives its TTL.
        The text is kept as one string per stream, not one per chunk (2,000 streams of 300
        chunks would otherwise hold 600,000 small strings)."""
        generated = ""
        tool_text = ""
        provider_usage: dict[str, Any] | None = None
        last_id: str | None = None
        last_created: int | None = None
        finished = False
        sent_any = False
        renewing = self._keep_held(flight)
        try:
            async for piece in chunks:
                if piece.usage:
                    provider_usage = piece.usage
                if piece.tool_text:
                    tool_text += piece.tool_text
                if piece.text or piece.tool_text:
                    generated += piece.text
                    if flight.ttft_ms is None:
                        flight.ttft_ms = (time.perf_counter() - flight.started) * 1000
                if piece.id is not None:
                    last_id, last_created = piece.id, piece.created
                if piece.sse:
                    if not sent_any and disconnected is not None and await disconnected():
                        return  # abandoned before the first byte: settled as client_disconnected below
                    sent_any = True
                    yield piece.sse
            if disconnected is not None and await disconnected():
                return
            counted = text_tokens(generated) + text_tokens(tool_text)
            input_tokens, output_tokens = self._charged(flight, spec, provider_usage, counted)
            outcome = await self.settle(flight, spec, input_tokens, output_tokens)
            finished = True
            if self.content_log is not None:
                self.content_log.record(
                    flight.request_id, flight.principal.pseudonym, flight.request.messages, generated
                )
            usage = {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "sobria": outcome.sobria,
            }
            if flight.request.include_usage:
                final: dict[str, Any] = {
                    "id": flight.request_id if last_id is None else last_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()) if last_id is None else last_created,
                    "model": flight.served,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + orjson.dumps(final) + b"\n\n"
            else:
                # An SSE comment: clients skip it, so the naive `choices[0]` loop holds.
                yield SOBRIA_TRAILER + orjson.dumps(usage) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except GatewayError as error:
            if generated or tool_text:
                await self._cut(flight, spec, [generated, tool_text], error.code, error.status)
            else:
                await self._fail(flight, error)
            finished = True
            body = {"error": {"message": error.message(flight.request.language), "type": "api_error",
                              "code": error.code, "param": None}}
            yield b"data: " + orjson.dumps(body) + b"\n\n"
        finally:
            renewing.cancel()
            if not finished:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    with anyio.CancelScope(shield=True):
                        try:
                            await close()
                        except Exception:  # the upstream is going away anyway
                            log.debug("upstream stream did not close cleanly", exc_info=True)
                await self._cut(flight, spec, [generated, tool_text])

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
            output_tokens = min(text_tokens("".join(generated)), flight.output_tokens_bound)
            flight.usage_source = "counted"
            latency_s = None if spec.is_demo else time.perf_counter() - flight.started
            impacts = self.estimate(spec, flight.input_tokens_estimate, output_tokens, latency_s)
            cost = spec.cost_micro_eur(flight.input_tokens_estimate, output_tokens)
            if flight.hold is not None:
                hold, flight.hold = flight.hold, None
                await self.budgets.settle(hold, Amount(cost, round(impacts.gwp_g.value * 1_000_000)), datetime.now(UTC))
            self.record(flight, status, http_status, flight.input_tokens_estimate, output_tokens, cost, impacts)
