"""Embeddings: budgeted and recorded like completions, with no impact estimate.

`POST /v1/embeddings` names an embedding model of the catalogue (`kind: embedding`);
there is no routing (an embedding must come from the model that indexed its corpus).
The request reserves its cost (input tokens at the model's input price) on the
caller's budgets, calls the provider (relay, litellm, or the demo responder), settles
the provider's token count, and writes one ledger record. Impacts are "not
estimated": EcoLogits models text generation, not embedding models, and a copied
figure would be a made-up one, so the record's impact columns stay empty and the
answer says so in `usage.sobria.impacts`.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.identity.auth import Principal
from gateway.budgets.gate import BudgetGate, format_micro
from gateway.budgets.store import Amount
from gateway.providers.catalogue import Catalogue, ModelSpec
from contracts.errors import DomainError
from gateway.edge.errors import GatewayError, code_and_status
from gateway.request.flight import ChatRequest, Flight
from gateway.ledger.records import usage_record
from gateway.ledger.writer import LedgerWriter
from gateway.request.tokens import text_tokens
from policies.decision import RoutingDecision

#: Request fields passed to the provider unchanged.
EMBEDDING_PASSTHROUGH = ("dimensions", "encoding_format", "user")
#: Length of a demo embedding unless `dimensions` says otherwise.
DEMO_DIMENSIONS = 16
MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings body."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128)
    input: str | list[str] | list[int] | list[list[int]]
    dimensions: int | None = Field(default=None, gt=0, le=8192)
    encoding_format: str | None = Field(default=None, pattern="^(float|base64)$")
    user: str | None = None

    def items(self) -> list[tuple[str, int]]:
        """Each input with its token count (token-id inputs are their own count)."""
        raw: list[Any] = [self.input] if isinstance(self.input, str) else list(self.input)
        if raw and all(isinstance(item, int) for item in raw):
            raw = [raw]
        if not raw:
            raise GatewayError(400, "invalid_request", param="input", detail="input is empty")
        if len(raw) > MAX_INPUTS:
            raise GatewayError(400, "invalid_request", param="input", detail=f"at most {MAX_INPUTS} inputs")
        return [(item, text_tokens(item)) if isinstance(item, str) else (repr(item), len(item)) for item in raw]


@dataclass(frozen=True, slots=True)
class EmbeddingAnswer:
    body: dict[str, Any]
    headers: dict[str, str]


def demo_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-length placeholder vector (equal texts, equal vectors)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((v / 2**31) - 1.0 for v in struct.unpack(">8I", digest))
        counter += 1
    values = values[:dimensions]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


class EmbeddingService:
    """Reserve, call, settle and record one embeddings request."""

    def __init__(self, catalogue: Catalogue, policy: Any, upstream: Any, budgets: BudgetGate, ledger: LedgerWriter):
        self.catalogue = catalogue
        self.policy = policy
        self.upstream = upstream
        self.budgets = budgets
        self.ledger = ledger

    def _spec(self, name: str) -> ModelSpec:
        spec = self.catalogue.get(name)
        if spec is None:
            raise GatewayError(404, "model_not_found", param="model", model=name)
        if spec.kind != "embedding":
            raise GatewayError(400, "invalid_request", param="model",
                               detail=f"{name} is not an embedding model (see GET /v1/models, kind: embedding)")
        return spec

    def _use_case(self, named: str | None) -> str:
        policy = self.policy.policy
        if named is None:
            return policy.defaults.general_use_case
        if policy.use_case(named) is None:
            raise GatewayError(403, "use_case_unknown", use_case=named)
        return named

    async def embed(self, principal: Principal, body: EmbeddingsRequest, use_case: str | None) -> EmbeddingAnswer:
        spec = self._spec(body.model)
        items = body.items()
        texts = [text for text, _ in items]
        estimate = sum(tokens for _, tokens in items)
        flight = Flight(
            request_id=f"req_{uuid.uuid4().hex}",
            principal=principal,
            request=ChatRequest(model=body.model, messages=[], stream=False, max_tokens=None, use_case=use_case,
                                params={}),
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
            input_tokens_estimate=estimate,
        )
        flight.spec, flight.served, flight.max_tokens = spec, spec.name, 0
        try:
            decision_use_case = self._use_case(use_case)
            flight.decision = RoutingDecision(spec.name, decision_use_case, "embeddings", self.policy.version,
                                              "embedding model named by the caller")
            flight.hold = await self.budgets.reserve(
                flight.request_id, principal, decision_use_case,
                Amount(spec.cost_micro_eur(estimate, 0), 0), flight.started_at
            )
        except (GatewayError, DomainError) as error:
            code, status = code_and_status(error)
            self.ledger.append(usage_record(flight, code, status, error=code).row())
            raise
        try:
            answer = await self._call(spec, body, texts)
        except BaseException as failure:
            hold, flight.hold = flight.hold, None
            await self.budgets.release(hold, datetime.now(UTC))
            code, status = (code_and_status(failure) if isinstance(failure, (GatewayError, DomainError))
                            else ("internal", 500))
            self.ledger.append(usage_record(flight, code, status, error=code).row())
            raise
        usage = answer.get("usage") or {}
        tokens = estimate if spec.is_demo else int(usage.get("prompt_tokens") or usage.get("total_tokens") or estimate)
        cost = spec.cost_micro_eur(tokens, 0)
        hold, flight.hold = flight.hold, None
        view = await self.budgets.settle(hold, Amount(cost, 0), datetime.now(UTC))
        self.ledger.append(usage_record(flight, "ok", 200, tokens, 0, cost, None).row())
        sobria = {"request_id": flight.request_id, "model": spec.name, "use_case": decision_use_case,
                  "demo": spec.is_demo, "cost_eur": format_micro(cost), "impacts": "not estimated",
                  "impact_method": None, "budget_remaining_eur": view.remaining_eur}
        answer["model"] = spec.name
        answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens, "sobria": sobria}
        headers = {"X-Request-Id": flight.request_id, "X-Sobria-Model": spec.name,
                   "X-Sobria-Use-Case": decision_use_case, "X-Sobria-Cost-EUR": format_micro(cost),
                   "X-Sobria-Impacts": "not-estimated", "X-Sobria-Budget-Remaining-EUR": view.remaining_eur}
        if spec.is_demo:
            headers["X-Sobria-Demo"] = "true"
        return EmbeddingAnswer(answer, headers)

    async def _call(self, spec: ModelSpec, body: EmbeddingsRequest, texts: list[str]) -> dict[str, Any]:
        params = {k: v for k, v in body.model_dump(exclude_none=True).items() if k in EMBEDDING_PASSTHROUGH}
        if spec.is_demo:
            size = body.dimensions or DEMO_DIMENSIONS
            vectors = [demo_vector(t, size) for t in texts]
            encoded: list[Any] = vectors
            if body.encoding_format == "base64":
                encoded = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
            data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)]
            return {"object": "list", "data": data, "model": spec.name}
        return await self.upstream.embed(spec, body.input, params)
