"""Who is calling: a personal key, or a trusted chat front end speaking for a user.

A principal comes from either a personal `sk-sobria-…` key, or a front-end service
key (marked `trusted_frontend`) plus the user it forwards: Open WebUI's signed
`X-OpenWebUI-User-Jwt` (HS256, shared secret), or plain `X-OpenWebUI-User-Email` /
`X-OpenWebUI-User-Id` headers, which are believed only from a trusted key. The user
is mapped to an employee and department through the directory loaded by admins.
"""

from __future__ import annotations

import csv
import hmac
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jwt
import yaml
from fastapi import Request

from gateway.errors import GatewayError
from gateway.keys import KeyRecord, KeyStore


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


class Directory:
    """Front-end user (email or id) -> employee and department, loaded from CSV or YAML."""

    def __init__(self, entries: dict[str, DirectoryEntry]):
        self._entries = entries

    @classmethod
    def load(cls, path: Path | None) -> "Directory":
        if path is None:
            return cls({})
        entries: dict[str, DirectoryEntry] = {}
        if path.suffix in {".yaml", ".yml"}:
            rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        for row in rows:
            entry = DirectoryEntry(str(row["employee_id"]), str(row.get("department") or "unknown"))
            for key in ("email", "user_id"):
                if row.get(key):
                    entries[str(row[key]).lower()] = entry
        return cls(entries)

    def find(self, user: str) -> DirectoryEntry | None:
        return self._entries.get(user.lower())


class Authenticator:
    """Turns request headers into a `Principal`, or raises a 401 `GatewayError`."""

    def __init__(self, keys: KeyStore, pseudonym_key: bytes, directory: Directory, jwt_secret: str | None):
        self._keys = keys
        self._pseudonym_key = pseudonym_key
        self._directory = directory
        self._jwt_secret = jwt_secret

    def pseudonym(self, employee_id: str) -> str:
        """Keyed hash of an employee id: stable, not reversible without the key."""
        return hmac.new(self._pseudonym_key, employee_id.encode(), hashlib.sha256).hexdigest()[:32]

    async def authenticate(self, request: Request) -> Principal:
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
            forwarded = self._forwarded_user(request)
            if forwarded is not None:
                return forwarded_principal(self, record, forwarded)
        return Principal(
            employee_id=record.employee_id,
            pseudonym=self.pseudonym(record.employee_id),
            department=record.department,
            roles=record.roles,
            key_id=record.key_id,
        )

    def _forwarded_user(self, request: Request) -> str | None:
        assertion = request.headers.get("x-openwebui-user-jwt")
        if assertion:
            if not self._jwt_secret:
                raise GatewayError(401, "invalid_api_key")
            try:
                claims = jwt.decode(assertion, self._jwt_secret, algorithms=["HS256"])
            except jwt.PyJWTError as exc:
                raise GatewayError(401, "invalid_api_key") from exc
            user = claims.get("email") or claims.get("id") or claims.get("sub")
            return str(user) if user else None
        return request.headers.get("x-openwebui-user-email") or request.headers.get("x-openwebui-user-id")

    @property
    def directory(self) -> Directory:
        return self._directory


def forwarded_principal(auth: Authenticator, key: KeyRecord, user: str) -> Principal:
    """The employee a trusted front end speaks for; unknown users keep the key's department."""
    entry = auth.directory.find(user)
    employee_id = entry.employee_id if entry else user.lower()
    department = entry.department if entry else key.department
    return Principal(
        employee_id=employee_id,
        pseudonym=auth.pseudonym(employee_id),
        department=department,
        roles=frozenset({"employee"}),
        key_id=key.key_id,
        via_frontend=True,
    )


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
            raise GatewayError(403, "forbidden_role", role=role)
        return principal

    return _dependency
