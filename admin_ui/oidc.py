"""Employees sign in with the organisation's identity provider (OpenID Connect, code flow + PKCE).

Authlib does the protocol: the authorization URL with an S256 code challenge, the code
exchange with the verifier, and the ID token's signature (the provider's JWKS) and
claims (issuer, audience, expiry, nonce). It is a maintained, widely used OAuth/OIDC
client; pyjwt (already a dependency) checks JWTs but has no PKCE, discovery or
code-flow client, which would otherwise be hand-written security code.

The claims are read from the ID token, or from the userinfo endpoint when the provider
keeps them there (same subject only). The signed-in employee is mapped exactly as the gateway maps a front end's user: the
claim (email by default) is looked up in the directory, and an unknown user is the
lower-cased claim, so the page shows the same pseudonym as their chat traffic.
Roles: everyone signed in is an employee; the groups or roles the provider lists in
`roles_claim` (a list, or a space- or comma-separated string; a dotted path such as
`realm_access.roles` reaches a nested one) give the Sobria roles that `role_map` names
for them, nothing else: an unmapped group gives no role, and a role is re-read at each
sign-in (so removing someone from a group takes effect at their next sign-in, at most
one session, 8 h, later).
State, nonce and verifier travel in a short-lived signed cookie, never in a server store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError

from gateway.identity.auth import Authenticator, DirectoryEntry, ForwardedUser
from gateway.settings import Settings

FLOW_COOKIE = "sobria_oidc"
FLOW_MAX_AGE_S = 600


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The `oidc_*` fields of the gateway's one `Settings` (`SOBRIA_OIDC_ISSUER`, `_CLIENT_ID`, ...):
    sign-in is offered when the issuer is set."""

    issuer: str | None = None
    client_id: str = "sobria"
    client_secret: str | None = None
    claim: str = "email"
    scope: str = "openid email"
    roles_claim: str = "groups"
    role_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> OidcSettings:
        """The sign-in settings of `settings` (the role map already checked there)."""
        return cls(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret, settings.oidc_claim,
                   settings.oidc_scope, settings.oidc_roles_claim, dict(settings.oidc_role_map))

    def roles_of(self, claims: Any) -> frozenset[str]:
        """The Sobria roles the provider's claims grant: employee, plus each mapped group's role."""
        value: Any = claims
        for part in self.roles_claim.split("."):
            value = value.get(part) if hasattr(value, "get") else None
        if isinstance(value, str):
            groups = value.replace(",", " ").split()
        elif isinstance(value, list | tuple):
            groups = [str(item) for item in value]
        else:
            groups = []
        return frozenset({"employee"} | {self.role_map[g] for g in groups if g in self.role_map})


class OidcError(Exception):
    """The sign-in could not complete; `reason` is a catalogue key."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Identity:
    employee_id: str
    department: str
    roles: frozenset[str] = frozenset({"employee"})


class OidcClient:
    """One per process; the provider's metadata and keys are fetched on first use."""

    def __init__(self, settings: OidcSettings, secret: bytes):
        self.settings = settings
        self._secret = hashlib.sha256(b"sobria-oidc-flow:" + secret).digest()
        self._metadata: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.issuer)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"  # type: ignore[union-attr]
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(url)
                response.raise_for_status()
                self._metadata = response.json()
        return self._metadata

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.settings.client_id, self.settings.client_secret, scope=self.settings.scope,
                                 redirect_uri=redirect_uri, code_challenge_method="S256", timeout=10)

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """(authorization URL, signed flow cookie value)."""
        try:
            metadata = await self.metadata()
        except (httpx.HTTPError, ValueError):
            raise OidcError("ui.oidc.unavailable") from None
        verifier, nonce = generate_token(48), generate_token(24)
        async with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                         nonce=nonce)
        flow = {"s": state, "n": nonce, "v": verifier, "t": next_path, "e": int(time.time()) + FLOW_MAX_AGE_S}
        return url, self._sign(flow)

    async def finish(self, redirect_uri: str, flow_cookie: str | None, state: str | None, code: str | None,
                     authenticator: Authenticator) -> tuple[Identity, str]:
        """Check the callback against the flow cookie, exchange the code, validate the ID token: (identity, next)."""
        flow = self._unsign(flow_cookie)
        if flow is None or not state or not hmac.compare_digest(str(flow["s"]), state) or not code:
            raise OidcError("ui.oidc.state")
        try:
            metadata = await self.metadata()
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=flow["v"],
                                                 grant_type="authorization_code")
                keys = (await client.get(metadata["jwks_uri"])).json()
                claims = self._validate(token.get("id_token"), keys, str(flow["n"]), metadata)
                wants_roles = bool(self.settings.role_map) and claims.get(self.settings.roles_claim.split(".")[0]) is None
                if (not claims.get(self.settings.claim) or wants_roles) and metadata.get("userinfo_endpoint"):
                    userinfo = (await client.get(metadata["userinfo_endpoint"])).json()
                    if str(userinfo.get("sub")) == str(claims.get("sub")):
                        claims = {**dict(claims), **userinfo}
        except OidcError:
            raise
        except (httpx.HTTPError, ValueError, KeyError):
            raise OidcError("ui.oidc.unavailable") from None
        except AuthlibBaseError:  # an error answer from the provider (e.g. invalid_grant)
            raise OidcError("ui.oidc.refused") from None
        value = claims.get(self.settings.claim)
        if not value:
            raise OidcError("ui.oidc.no_claim")
        claimed = str(value)
        entry: DirectoryEntry | None = authenticator.directory.find(ForwardedUser(email=claimed, user_id=claimed))
        identity = Identity(entry.employee_id if entry else str(value).lower(), entry.department if entry else "unknown",
                            self.settings.roles_of(claims))
        return identity, str(flow["t"])

    def _validate(self, id_token: str | None, keys: dict[str, Any], nonce: str, metadata: dict[str, Any]) -> Any:
        if not id_token:
            raise OidcError("ui.oidc.refused")
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        try:
            claims = JsonWebToken(algorithms).decode(id_token, JsonWebKey.import_key_set(keys), claims_options={
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": self.settings.client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            })
            claims.validate(leeway=60)
        except (JoseError, ValueError):
            raise OidcError("ui.oidc.bad_token") from None
        return claims

    def _sign(self, body: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
        signature = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{signature}"

    def _unsign(self, value: str | None) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        payload, _, signature = value.partition(".")
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        return body if isinstance(body, dict) and int(body.get("e", 0)) >= time.time() else None
