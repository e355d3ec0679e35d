"""Who is calling: a personal key, or a trusted chat front end speaking for a user.

A principal comes from either a personal `sk-sobria-…` key, or a front-end service
key (marked `trusted_frontend`) plus the user it forwards. Open WebUI forwards its user
in one of two ways (`ENABLE_FORWARD_USER_INFO_HEADERS=true`): a signed
`X-OpenWebUI-User-Jwt` (HS256 with `FORWARD_USER_INFO_HEADER_JWT_SECRET`; claims `sub`,
`email`, `name`, `role`, `iss`, `iat`, `exp`) when that secret is set, otherwise the
plain `X-OpenWebUI-User-Name/Id/Email/Role` headers.

When Sobria holds the JWT secret, plain identity headers from a front-end key are
refused: anyone holding the key could otherwise charge any employee. A JWT must carry
`exp`, live no longer than the configured maximum, and match the issuer and audience
when they are set. The user is looked up in the directory by email, then user id,
then name; a user the directory does not know is refused, or charged to the named
unmapped scope when the operator chose that, never to an employee made up from the
header. Every refusal names its reason in the answer, the log and the refusal trace.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import jwt
import yaml
from fastapi import Request

from contracts.errors import DomainError
from gateway.edge.errors import GatewayError
from gateway.identity.keys import KeyRecord, KeyStore

log = logging.getLogger("sobria.auth")

#: Seconds of clock difference tolerated between Open WebUI and Sobria.
CLOCK_LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    employee_id: str
    pseudonym: str
    department: str
    roles: frozenset[str]
    key_id: str
    via_frontend: bool = False

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    employee_id: str
    department: str


@dataclass(frozen=True, slots=True)
class ForwardedUser:
    """The user a front end says it speaks for (any field may be empty)."""

    email: str = ""
    user_id: str = ""
    name: str = ""

    @property
    def empty(self) -> bool:
        return not (self.email or self.user_id or self.name)


class Directory:
    """Front-end user -> employee and department, loaded from CSV or YAML.

    Rows carry `employee_id`, `department` and any of `email`, `user_id`, `name`;
    a user is found by email first, then by front-end user id, then by name."""

    def __init__(
        self,
        by_email: dict[str, DirectoryEntry],
        by_user_id: dict[str, DirectoryEntry] | None = None,
        by_name: dict[str, DirectoryEntry] | None = None,
    ):
        self._by_email = by_email
        self._by_user_id = by_user_id or {}
        self._by_name = by_name or {}

    @classmethod
    def load(cls, path: Path | None) -> Directory:
        if path is None:
            return cls({})
        if path.suffix in {".yaml", ".yml"}:
            rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        by_email: dict[str, DirectoryEntry] = {}
        by_user_id: dict[str, DirectoryEntry] = {}
        by_name: dict[str, DirectoryEntry] = {}
        for row in rows:
            entry = DirectoryEntry(str(row["employee_id"]), str(row.get("department") or "unknown"))
            for column, index in (("email", by_email), ("user_id", by_user_id), ("name", by_name)):
                value = str(row.get(column) or "").strip()
                if value:
                    index[_fold(value)] = entry
        return cls(by_email, by_user_id, by_name)

    def find(self, user: ForwardedUser) -> DirectoryEntry | None:
        """The entry of this user: by email, then user id, then name."""
        for value, index in ((user.email, self._by_email), (user.user_id, self._by_user_id), (user.name, self._by_name)):
            if value:
                entry = index.get(_fold(value))
                if entry is not None:
                    return entry
        return None

    def __len__(self) -> int:
        return len(self._by_email) + len(self._by_user_id) + len(self._by_name)


def _fold(value: str) -> str:
    return value.strip().casefold()


@dataclass(frozen=True, slots=True)
class FrontendPolicy:
    """How identities forwarded by a trusted front end are checked and mapped."""

    jwt_secret: str | None = None
    jwt_max_lifetime_s: int = 900
    jwt_issuer: str | None = "open-webui"
    jwt_audience: str | None = None
    unmapped_users: Literal["refuse", "charge_unmapped"] = "refuse"
    unmapped_employee: str = "unmapped"
    unmapped_department: str = "unmapped"


class FrontendRefused(GatewayError):
    """A front-end identity the gateway does not accept, with the reason why."""

    def __init__(self, reason: str):
        super().__init__(401, "frontend_identity_refused", reason=reason)
        self.reason = reason


class Authenticator:
    """Turns request headers into a `Principal`, or raises a 401 `GatewayError`."""

    def __init__(
        self,
        keys: KeyStore,
        pseudonym_key: bytes,
        directory: Directory,
        frontend: FrontendPolicy | str | None = None,
    ):
        self._keys = keys
        self._pseudonym_key = pseudonym_key
        self._directory = directory
        self.frontend = frontend if isinstance(frontend, FrontendPolicy) else FrontendPolicy(jwt_secret=frontend)

    def pseudonym(self, employee_id: str) -> str:
        """Keyed hash of an employee id: stable, not reversible without the key."""
        return hmac.new(self._pseudonym_key, employee_id.encode(), hashlib.sha256).hexdigest()[:32]

    async def authenticate(self, request: Request) -> Principal:
        try:
            return await self._authenticate(request)
        except (GatewayError, DomainError) as refusal:
            reason = getattr(refusal, "reason", refusal.code)
            request.state.refusal_reason = reason
            log.warning("authentication refused: %s", reason, extra={"reason": reason, "path": request.url.path})
            raise

    async def _authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not token or scheme.lower() != "bearer":
            token = request.headers.get("x-api-key", "")
            if not token:
                raise GatewayError(401, "missing_api_key")
        record = await self._keys.find(token.strip())
        if record is None:
            raise GatewayError(401, "invalid_api_key")
        if record.trusted_frontend:
            forwarded = self.forwarded_user(request)
            if forwarded is not None:
                return self.frontend_principal(record, forwarded)
        return Principal(
            employee_id=record.employee_id,
            pseudonym=self.pseudonym(record.employee_id),
            department=record.department,
            roles=record.roles,
            key_id=record.key_id,
        )

    def forwarded_user(self, request: Request) -> ForwardedUser | None:
        """The user a trusted front end forwards, checked; None when it forwards none."""
        headers = request.headers
        assertion = headers.get("x-openwebui-user-jwt")
        plain = ForwardedUser(
            email=headers.get("x-openwebui-user-email", "").strip(),
            user_id=headers.get("x-openwebui-user-id", "").strip(),
            name=unquote(headers.get("x-openwebui-user-name", "")).strip(),
        )
        secret = self.frontend.jwt_secret
        if assertion:
            if not secret:
                raise FrontendRefused("jwt_secret_not_configured")
            return self._verified(assertion, secret)
        if plain.empty:
            return None
        if secret:
            raise FrontendRefused("unsigned_identity_headers")
        return plain

    def _verified(self, assertion: str, secret: str) -> ForwardedUser:
        policy = self.frontend
        try:
            claims = jwt.decode(
                assertion,
                secret,
                algorithms=["HS256"],
                issuer=policy.jwt_issuer or None,
                audience=policy.jwt_audience or None,
                leeway=CLOCK_LEEWAY_S,
                options={"require": ["exp"], "verify_aud": bool(policy.jwt_audience)},
            )
        except jwt.ExpiredSignatureError:
            raise FrontendRefused("jwt_expired") from None
        except jwt.MissingRequiredClaimError as missing:
            raise FrontendRefused(f"jwt_missing_{missing.claim}") from None
        except jwt.InvalidIssuerError:
            raise FrontendRefused("jwt_wrong_issuer") from None
        except jwt.InvalidAudienceError:
            raise FrontendRefused("jwt_wrong_audience") from None
        except jwt.InvalidSignatureError:
            raise FrontendRefused("jwt_bad_signature") from None
        except jwt.PyJWTError:
            raise FrontendRefused("jwt_malformed") from None
        now = time.time()
        expires = float(claims["exp"])
        issued = float(claims.get("iat") or now)
        limit = policy.jwt_max_lifetime_s + CLOCK_LEEWAY_S
        if expires - issued > limit or expires - now > limit:
            raise FrontendRefused("jwt_lifetime_too_long")
        user = ForwardedUser(
            email=str(claims.get("email") or "").strip(),
            user_id=str(claims.get("sub") or claims.get("id") or "").strip(),
            name=str(claims.get("name") or "").strip(),
        )
        if user.empty:
            raise FrontendRefused("jwt_no_user")
        return user

    def frontend_principal(self, key: KeyRecord, user: ForwardedUser) -> Principal:
        """The employee a trusted front end speaks for, from the directory or the unmapped policy."""
        entry = self._directory.find(user)
        if entry is None:
            if self.frontend.unmapped_users != "charge_unmapped":
                raise FrontendRefused("user_not_in_directory")
            entry = DirectoryEntry(self.frontend.unmapped_employee, self.frontend.unmapped_department)
        return Principal(
            employee_id=entry.employee_id,
            pseudonym=self.pseudonym(entry.employee_id),
            department=entry.department,
            roles=frozenset({"employee"}),
            key_id=key.key_id,
            via_frontend=True,
        )

    @property
    def directory(self) -> Directory:
        return self._directory


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = await request.app.state.authenticator.authenticate(request)
        request.state.principal = principal
    return principal


def require_role(role: str) -> Callable[[Request], object]:
    """FastAPI dependency factory: the caller must hold `role` (admins hold every role)."""

    async def _dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has(role):
            request.state.refusal_reason = f"missing_role_{role}"
            raise GatewayError(403, "forbidden_role", role=role)
        return principal

    return _dependency
