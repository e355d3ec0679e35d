"""The model catalogue: which deployments exist, their tier, price and impact profile.

Loaded once at start-up from YAML (the shipped `catalogue.yaml` or the operator's
own). Whether a model is really called or answered by the offline demo responder is
decided here, from the environment, and stated in plain words for the start-up log.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from estimators.factors import factor_set
from estimators.impacts import ImpactProfile, Range
from estimators.mixes import check_zone
from estimators.supplier import SupplierFactorMismatch, supplier_factor_from_dict

Tier = Literal["small", "medium", "large"]
TIERS: tuple[Tier, ...] = ("small", "medium", "large")
DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.yaml")


class _Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)


Bounds = float | tuple[float, float]


def _check_bounds(name: str, value: Bounds | None, floor: float) -> Bounds | None:
    """A declared figure or [low, high] range: finite, at least `floor`, low <= high."""
    if value is None:
        return None
    values = (value,) if isinstance(value, (int, float)) else tuple(value)
    if not all(math.isfinite(v) and v >= floor for v in values):
        raise ValueError(f"{name} must be finite and at least {floor}, got {value!r}")
    if len(values) == 2 and values[0] > values[1]:
        raise ValueError(f"{name} range must be [low, high], got {value!r}")
    return value


class _Impact(BaseModel):
    """A deployment's impact profile: what the estimator needs, validated at load."""

    model_config = ConfigDict(extra="forbid")
    provider: str
    ecologits_provider: str | None = None
    ecologits_model: str | None = None
    model_version: str | None = None
    total_params_b: Bounds | None = None
    active_params_b: Bounds | None = None
    quantisation_bits: int | None = Field(default=None, ge=1, le=32)
    gpu_type: str | None = None
    gpu_count: int | None = Field(default=None, ge=1, le=1024)
    zone: str = "WOR"
    pue: Bounds | None = None
    wue_l_per_kwh: Bounds | None = None
    market_gwp_kg_per_kwh: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    market_source: str | None = None
    supplier: dict[str, Any] | None = None
    measured: bool = False

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("total_params_b", "active_params_b")
    @classmethod
    def _params(cls, value: Bounds | None, info: Any) -> Bounds | None:
        return _check_bounds(info.field_name, value, 0.001)

    @field_validator("pue")
    @classmethod
    def _pue(cls, value: Bounds | None) -> Bounds | None:
        return _check_bounds("pue", value, 1.0)

    @field_validator("wue_l_per_kwh")
    @classmethod
    def _wue(cls, value: Bounds | None) -> Bounds | None:
        return _check_bounds("wue_l_per_kwh", value, 0.0)

    @field_validator("gpu_type")
    @classmethod
    def _gpu(cls, value: str | None) -> str | None:
        known = factor_set()["gpus"]
        if value is not None and value not in known:
            raise ValueError(f"unknown gpu_type {value!r} (known: {', '.join(sorted(known))})")
        return value

    @model_validator(mode="after")
    def _market_needs_source(self) -> _Impact:
        if (self.market_gwp_kg_per_kwh is None) != (self.market_source is None):
            raise ValueError("market_gwp_kg_per_kwh and market_source are declared together (a factor without its source is not market-based)")
        return self


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
    tier: Tier
    litellm_params: dict[str, Any]
    api_key_env: str | None = None
    api_base_env: str | None = None
    price_eur_per_mtok: _Price
    max_output_tokens: int = Field(default=4096, gt=0)
    context_window: int = Field(default=128_000, gt=0)
    max_image_tokens: int | None = Field(default=None, gt=0)
    impact: _Impact
    description: str = ""
    kind: Literal["chat", "embedding"] = "chat"

    @field_validator("litellm_params")
    @classmethod
    def _needs_model(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "model" not in value:
            raise ValueError("litellm_params needs a 'model'")
        return value


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    eur_per_usd: Decimal | None = None
    models: list[_Model]
    fallbacks: dict[str, list[str]] = {}


def _range(value: Bounds | None) -> Range | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return Range.exact(float(value))
    return Range.between(float(value[0]), float(value[1]))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One deployment as the gateway sees it."""

    name: str
    tier: Tier
    litellm_params: dict[str, Any]
    price_input_eur_per_mtok: Decimal
    price_output_eur_per_mtok: Decimal
    max_output_tokens: int
    context_window: int
    impact: ImpactProfile
    supplier_factor: dict[str, Any] | None
    mode: Literal["provider", "local", "demo"]
    provenance: str
    kind: Literal["chat", "embedding"] = "chat"  # embedding models serve /v1/embeddings only
    #: The most input tokens the provider bills for one image; None: OpenAI's tile rule (1,445).
    max_image_tokens: int | None = None

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    def cost_micro_eur(self, input_tokens: int, output_tokens: int) -> int:
        """Exact cost in micro-euros (rounded up to the next micro-euro)."""
        micro = (
            Decimal(input_tokens) * self.price_input_eur_per_mtok
            + Decimal(output_tokens) * self.price_output_eur_per_mtok
        )
        return int(micro.to_integral_value(rounding="ROUND_CEILING"))


def _decide_mode(raw: _Model, env: Mapping[str, str]) -> tuple[str, dict[str, Any], str]:
    """Return (mode, litellm_params with credentials, plain-words provenance)."""
    params = dict(raw.litellm_params)
    target = params["model"]
    if raw.api_base_env and env.get(raw.api_base_env):
        params["api_base"] = env[raw.api_base_env]
        params.setdefault("api_key", env.get(raw.api_key_env or "", "") or "sobria-local")
        return "local", params, f"{target} at {params['api_base']} (via {raw.api_base_env})"
    if params.get("api_base"):
        params.setdefault("api_key", env.get(raw.api_key_env or "", "") or "sobria-local")
        return "local", params, f"{target} at {params['api_base']}"
    if raw.api_key_env and env.get(raw.api_key_env):
        params["api_key"] = env[raw.api_key_env]
        return "provider", params, f"{target} via {raw.api_key_env}"
    hint = raw.api_key_env or raw.api_base_env or "a provider"
    return "demo", params, f"offline demo model: answers are placeholders (set {hint} to call {target})"


class Catalogue:
    """The loaded catalogue: lookup by name and by tier, fallbacks, demo flags."""

    def __init__(self, models: list[ModelSpec], fallbacks: dict[str, list[str]], version: str):
        self.version = version
        self._models = {m.name: m for m in models}
        self.fallbacks = fallbacks
        self._order = [m.name for m in models]

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None) -> Catalogue:
        env = os.environ if env is None else env
        text = (path or DEFAULT_CATALOGUE).read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), env)

    @classmethod
    def from_dict(cls, data: dict[str, Any], env: Mapping[str, str]) -> Catalogue:
        parsed = _CatalogueFile.model_validate(data)
        names = [m.name for m in parsed.models]
        if len(set(names)) != len(names):
            raise ValueError("model names in the catalogue must be unique")
        for source, targets in parsed.fallbacks.items():
            for name in [source, *targets]:
                if name not in names:
                    raise ValueError(f"fallback names unknown model {name!r}")
        specs = []
        for raw in parsed.models:
            mode, params, provenance = _decide_mode(raw, env)
            imp = raw.impact
            model_version = imp.model_version or str(raw.litellm_params["model"]).split("/", 1)[-1]
            supplier = supplier_factor_from_dict(imp.supplier)
            if supplier is not None and supplier.model_version != model_version:
                raise SupplierFactorMismatch(
                    f"model {raw.name!r}: supplier figures describe {supplier.model_version!r}, "
                    f"not the deployed {model_version!r}; they apply to no other model version"
                )
            specs.append(
                ModelSpec(
                    name=raw.name,
                    tier=raw.tier,
                    litellm_params=params,
                    price_input_eur_per_mtok=raw.price_eur_per_mtok.input,
                    price_output_eur_per_mtok=raw.price_eur_per_mtok.output,
                    max_output_tokens=raw.max_output_tokens,
                    context_window=raw.context_window,
                    impact=ImpactProfile(
                        provider=imp.provider,
                        ecologits_provider=imp.ecologits_provider,
                        ecologits_model=imp.ecologits_model,
                        total_params_b=_range(imp.total_params_b),
                        active_params_b=_range(imp.active_params_b),
                        zone=imp.zone,
                        pue=_range(imp.pue),
                        wue_l_per_kwh=_range(imp.wue_l_per_kwh),
                        market_gwp_kg_per_kwh=imp.market_gwp_kg_per_kwh,
                        market_source=imp.market_source,
                        supplier=supplier,
                        measured=imp.measured,
                        model_version=model_version,
                        quantisation_bits=imp.quantisation_bits,
                        gpu_type=imp.gpu_type,
                        gpu_count=imp.gpu_count,
                        catalogue_version=parsed.version,
                    ),
                    supplier_factor=imp.supplier,
                    mode=mode,  # type: ignore[arg-type]
                    provenance=provenance,
                    kind=raw.kind,
                    max_image_tokens=raw.max_image_tokens,
                )
            )
        return cls(specs, parsed.fallbacks, parsed.version)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def get(self, name: str) -> ModelSpec | None:
        return self._models.get(name)

    def all(self) -> list[ModelSpec]:
        return [self._models[n] for n in self._order]

    def in_tier(self, tier: str) -> list[ModelSpec]:
        """Models of a tier, real deployments first, then demo ones, in catalogue order."""
        members = [m for m in self.all() if m.tier == tier and m.kind == "chat"]
        return [m for m in members if not m.is_demo] + [m for m in members if m.is_demo]

    def preferred(self, tier: str) -> ModelSpec:
        """The model a policy gets when it asks for a tier."""
        members = self.in_tier(tier)
        if not members:
            raise LookupError(f"no model in tier {tier!r}")
        return members[0]
