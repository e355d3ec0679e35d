"""Inventory settings: the k of k-anonymity (never below 5) and the status refresh delay."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_K = 5


class InventorySettings(BaseSettings):
    """`SOBRIA_K_ANONYMITY` and `SOBRIA_USE_CASE_REFRESH_S`."""

    model_config = SettingsConfigDict(env_prefix="SOBRIA_", extra="ignore")

    k_anonymity: int = Field(MIN_K, description="Smallest number of distinct employees a published figure covers")
    use_case_refresh_s: float = Field(1.0, gt=0, le=10, description="How often each replica re-reads statuses")

    @field_validator("k_anonymity")
    @classmethod
    def _not_below_minimum(cls, value: int) -> int:
        if value < MIN_K:
            raise ValueError(f"k_anonymity may only be raised: it must be at least {MIN_K}")
        return value
