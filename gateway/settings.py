"""Gateway settings: embedded defaults, overridden by `SOBRIA_*` variables and a YAML file.

Precedence (highest first): constructor arguments, environment variables, the YAML
file named by `SOBRIA_CONFIG`, then the defaults below, which start a working
gateway on a laptop with no configuration at all. This is the one settings model of
the project (the inventory's settings included): every field is read from the
environment and from the YAML file alike, and a YAML key that names no setting is
an error naming that key, rather than a setting silently left at its default.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from gateway.budgets.config import BudgetsConfig
from gateway.identity.keys import ROLES

MIN_K_ANONYMITY = 5


class UnknownSettingError(ValueError):
    """A key of the YAML settings file that names no setting."""

    def __init__(self, key: str, path: str):
        super().__init__(f"unknown setting {key!r} in {path} (see gateway/settings.py for the settings)")
        self.key = key


class _StrictYamlSource(YamlConfigSettingsSource):
    """The YAML settings file, refusing keys that name no setting."""

    def __init__(self, settings_cls: type[BaseSettings], yaml_file: str):
        super().__init__(settings_cls, yaml_file=yaml_file)
        for key in self.yaml_data:
            if key not in settings_cls.model_fields:
                raise UnknownSettingError(str(key), yaml_file)


class Settings(BaseSettings):
    """Everything an operator can set. Units are in the names."""

    model_config = SettingsConfigDict(env_prefix="SOBRIA_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("sobria-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; SQLite file in data_dir when unset"
    )
    redis_url: str | None = Field(default=None, description="Redis URL; in-process budgets when unset")
    catalogue_path: Path | None = None
    policy_path: Path | None = None
    pseudonym_key: str | None = Field(
        default=None, description="HMAC key for employee pseudonyms; generated into data_dir when unset"
    )
    session_secret: str | None = Field(
        default=None, description="Signs the web pages' session cookies; generated into data_dir when unset"
    )
    max_body_bytes: int = 1_000_000
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="total size of a request's headers; over it the answer is 431"
    )
    max_messages: int = 512
    upstream_timeout_s: float = 120.0
    upstream_max_connections: int = Field(
        default=10_000, ge=1,
        description="upstream connections one worker opens at most (a request beyond them waits for one); "
        "each open stream holds one for its whole length, so keep it above the streams a worker holds",
    )
    upstream_retries: int = 1
    ledger_flush_interval_s: float = 0.2
    gc_check_every_s: float = Field(
        default=0.5, ge=0,
        description="look at the two younger garbage-collector generations this often, in seconds (0: leave collections "
        "to CPython's allocation count, which long streams with churn rarely reach)",
    )
    gc_young_growth: int = Field(
        default=10_000, ge=1,
        description="collect the two younger generations once together they grew by this many objects",
    )
    gc_full_every_s: float = Field(
        default=600.0, gt=0, description="collect the whole heap this often, in seconds (the pass that frees "
        "reference cycles which reached the oldest generation)",
    )
    ledger_batch_size: int = 500
    ledger_raw_retention_months: int | None = Field(
        default=None, ge=1,
        description="keep raw ledger rows this many months (the current one included; PostgreSQL drops whole "
        "monthly partitions); the roll-ups that budgets, committee figures and reports read are kept for good. "
        "Unset: raw rows are kept for good",
    )
    metrics_token: str | None = Field(
        default=None, description="/metrics requires it as a Bearer token (Prometheus bearer_token)"
    )
    metrics_open: bool = Field(
        default=False,
        description="Serve /metrics without a token even when listening beyond loopback (not recommended: "
        "its labels name departments and use cases with no small-group suppression)",
    )
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"
    demo_output_tokens: int = 120
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 secret shared with Open WebUI: its FORWARD_USER_INFO_HEADER_JWT_SECRET (never WEBUI_SECRET_KEY); "
        "when set, front-end keys must forward a signed X-OpenWebUI-User-Jwt",
    )
    jwt_max_lifetime_s: int = Field(
        default=900, ge=1, description="Longest accepted front-end JWT lifetime (exp - iat); Open WebUI mints 300 s"
    )
    jwt_issuer: str | None = Field(default="open-webui", description="Required `iss` of front-end JWTs; empty: not checked")
    jwt_audience: str | None = Field(default=None, description="Required `aud` of front-end JWTs; unset: not checked")
    unmapped_users: Literal["refuse", "charge_unmapped"] = Field(
        default="refuse",
        description="A forwarded user missing from the directory: refuse (401), or charge the named unmapped scope",
    )
    unmapped_department: str = Field(default="unmapped", description="Department charged for unmapped users")
    budgets: BudgetsConfig = Field(
        default_factory=BudgetsConfig,
        description="budget defaults, thresholds and store behaviour (SOBRIA_BUDGETS__EMPLOYEE__EUR=50 ...)",
    )
    directory_path: Path | None = Field(
        default=None, description="CSV or YAML mapping front-end users to employee and department"
    )
    ledger_spool_sync: Literal["record", "batch"] = Field(
        default="record",
        description="record: each ledger record reaches the kernel at once (a killed process loses none); "
        "batch: once per ledger flush interval",
    )
    ledger_spool_fsync_ms: int = Field(default=200, ge=0, description="fsync the spool at most this often; 0: every write")
    database_down_mode: Literal["serve", "refuse"] = Field(
        default="serve",
        description="serve: keep answering known keys while the database is down (ledger records wait in the spool); "
        "refuse: answer 503 until it returns",
    )
    rate_limit_rpm: int | None = Field(default=None, ge=1, description="Requests per minute per key; unlimited when unset")
    rate_limit_tpm: int | None = Field(
        default=None, ge=1, description="Tokens (prompt + max output) per minute per key; unlimited when unset"
    )
    content_log_enabled: bool = Field(default=False, description="Store prompt and completion text (opt-in)")
    content_log_retention_days: float = Field(default=30, gt=0, description="Stored text older than this is purged")
    content_log_purge_interval_s: float = Field(default=3600, gt=0)
    measured_mode: bool = Field(
        default=False, description="Measure the gateway process and measured local models with codecarbon (opt-in)"
    )
    measurement_window_s: float = Field(default=300, gt=0, description="Length of one codecarbon measurement window")
    measurement_zone: str = Field(
        default="FRA", description="ISO 3166-1 alpha-3 zone of this host's grid, for the gateway's own footprint"
    )
    upstream_relay: bool = Field(
        default=True, description="Send OpenAI-compatible deployments through the direct relay; off: through litellm"
    )
    k_anonymity: int = Field(
        default=MIN_K_ANONYMITY, description="Smallest number of distinct employees a published figure covers"
    )
    use_case_refresh_s: float = Field(default=1.0, gt=0, le=10, description="How often each replica re-reads statuses")
    policy_follow_interval_s: float = Field(
        default=1.0, gt=0, le=5, description="How often each replica checks the database for a newly published policy"
    )
    policy_file_poll_s: float = Field(default=2.0, gt=0, description="How often the policy file is checked for edits")
    audit_key: str | None = Field(
        default=None, description="HMAC key of the audit chain; keep it out of the database (or use audit_key_file)"
    )
    audit_key_file: Path | None = Field(default=None, description="File holding the audit chain's HMAC key")
    audit_checkpoint_path: Path | None = Field(
        default=None, description="Where signed audit checkpoints are appended (default: data_dir/audit-checkpoints.jsonl)"
    )
    audit_checkpoint_interval_s: float = Field(default=300, gt=0, description="How often a checkpoint is exported")
    oidc_issuer: str | None = Field(
        default=None, description="The identity provider's issuer URL; the pages offer sign-in with it when set"
    )
    oidc_client_id: str = Field(default="sobria", description="This gateway's client id at the identity provider")
    oidc_client_secret: str | None = Field(default=None, description="This gateway's client secret there")
    oidc_claim: str = Field(default="email", description="The ID-token claim naming the employee (as in the directory)")
    oidc_scope: str = Field(default="openid email", description="Scopes asked of the identity provider")
    oidc_roles_claim: str = Field(
        default="groups", description="The claim listing the user's groups or roles (a dotted path reaches a nested one)"
    )
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description='Provider group or role -> Sobria role, e.g. {"sobria-ethics": "committee", "it-admins": "admin"}',
    )

    @field_validator("k_anonymity")
    @classmethod
    def _k_not_below_minimum(cls, value: int) -> int:
        if value < MIN_K_ANONYMITY:
            raise ValueError(f"k_anonymity may only be raised: it must be at least {MIN_K_ANONYMITY}")
        return value

    @field_validator("oidc_role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - set(ROLES))
        if unknown:
            raise ValueError(f"SOBRIA_OIDC_ROLE_MAP maps to unknown roles {', '.join(unknown)}; roles are "
                             f"{', '.join(ROLES)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SOBRIA_CONFIG")
        if config_file:
            sources.append(_StrictYamlSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    def effective_pseudonym_key(self) -> bytes:
        """The pseudonymisation key; created once in the data directory when not configured.

        Replicas must share it (one employee, one pseudonym, one budget), so a gateway
        that shares its budgets through Redis refuses to start without it."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        if self.redis_url:
            raise ValueError(
                "SOBRIA_PSEUDONYM_KEY must be set (the same on every replica) when SOBRIA_REDIS_URL is set"
            )
        return _secret_file(self.data_dir / "pseudonym.key")

    @property
    def effective_audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_path or self.data_dir / "audit-checkpoints.jsonl"

    def effective_audit_key(self) -> bytes:
        """The audit chain's HMAC key: configured, read from a file, else derived from the pseudonym key.

        Never stored in the database. Replicas must share it (each verifies what the others
        wrote); the pseudonym key they already share serves when none is set, domain-separated
        so one key's MACs say nothing about the other's pseudonyms."""
        if self.audit_key:
            return self.audit_key.encode()
        if self.audit_key_file:
            return self.audit_key_file.read_text(encoding="utf-8").strip().encode()
        return hmac.new(self.effective_pseudonym_key(), b"sobria audit chain", hashlib.sha256).digest()

    @property
    def listens_beyond_loopback(self) -> bool:
        return self.host not in {"127.0.0.1", "::1", "localhost"}

    def effective_session_secret(self) -> bytes:
        """The web session signing key; created once in the data directory when not configured.

        Replicas behind one load balancer must share it, or a session opened on one is
        unknown to the others."""
        if self.session_secret:
            return self.session_secret.encode()
        return _secret_file(self.data_dir / "session.key")


def _secret_file(path: Path) -> bytes:
    """A random secret kept in `path` (mode 0600), written by the first process to need it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
    return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process (read once)."""
    return Settings()
