"""API keys as an admin action: validate, create or revoke, audit; the same from the API, pages and CLI.

Audit entries name a key as `key:<id>` and record the same fields whichever door
the action came through. Revocation reaches every replica through the key store's
short cache (see `gateway.identity.keys`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gateway.ledger.audit import AuditLog
from gateway.identity.auth import Principal
from contracts.errors import InvalidInput, NotFound
from gateway.identity.keys import ROLES, KeyRecord, KeyStore
from gateway.services.pseudonyms import Pseudonyms


@dataclass(frozen=True, slots=True)
class NewKey:
    """What an admin asks for when creating a key."""

    employee_id: str
    department: str
    roles: tuple[str, ...] = ("employee",)
    name: str = ""
    trusted_frontend: bool = False


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """The key (shown only once) and its record."""

    key: str
    record: KeyRecord


def key_target(key_id: str) -> str:
    """The audit target of a key."""
    return f"key:{key_id}"


def key_state(record: KeyRecord) -> dict[str, object]:
    """What the audit log records of a key (never the key)."""
    return {
        "name": record.name,
        "employee_id": record.employee_id,
        "department": record.department,
        "roles": sorted(record.roles),
        "trusted_frontend": record.trusted_frontend,
    }


def _field(value: str, param: str, longest: int) -> str:
    value = value.strip()
    if not value or len(value) > longest or any(unicodedata.category(c).startswith("C") for c in value):
        raise InvalidInput("invalid_request", "error.key_field", param=param, longest=longest)
    return value


class KeyService:
    """Create, list and revoke keys; resolve a key id to its principal."""

    def __init__(self, store: KeyStore, audit: AuditLog, pseudonyms: Pseudonyms):
        self._store = store
        self._audit = audit
        self._pseudonyms = pseudonyms

    @staticmethod
    def validate(request: NewKey) -> NewKey:
        employee = _field(request.employee_id, "employee_id", 128)
        department = _field(request.department, "department", 64)
        roles = tuple(sorted(set(request.roles)))
        if not roles or set(roles) - set(ROLES):
            raise InvalidInput("invalid_request", "error.key_roles", param="roles", roles=", ".join(ROLES))
        name = _field(request.name, "name", 128) if request.name.strip() else employee
        return NewKey(employee, department, roles, name, request.trusted_frontend)

    async def create(self, actor: str, request: NewKey) -> CreatedKey:
        """Create a key; audited as `key.create` on `key:<id>`."""
        request = self.validate(request)
        key, record = await self._store.create(
            request.name, request.employee_id, request.department, list(request.roles), request.trusted_frontend
        )
        await self._audit.record(actor, "key.create", key_target(record.key_id), None, key_state(record))
        return CreatedKey(key, record)

    async def revoke(self, actor: str, key_id: str) -> None:
        """Revoke an active key; audited as `key.revoke` on `key:<id>`. NotFound when no active key has that id."""
        if not await self._store.revoke(key_id.strip()):
            raise NotFound("not_found", "error.key_not_found", param="key_id", key_id=key_id)
        await self._audit.record(actor, "key.revoke", key_target(key_id), {"active": True}, {"active": False})

    async def list(self) -> list[KeyRecord]:
        return await self._store.list()

    async def bootstrap_admin(self, actor: str) -> str | None:
        """The first admin key when there is none (shown once), else None."""
        if await self._store.count_admins():
            return None
        created = await self.create(actor, NewKey("admin", "it", ("admin",), "bootstrap admin"))
        return created.key

    async def principal_for_key_id(self, key_id: str) -> Principal | None:
        """The principal of an active key (a web session's), through the store's cache and database-down mode."""
        record = await self._store.find_id(key_id)
        return None if record is None else self.principal_of(record)

    def principal_of(self, record: KeyRecord) -> Principal:
        """Who a key stands for: its employee (pseudonymised), department and roles."""
        return Principal(
            employee_id=record.employee_id,
            pseudonym=self._pseudonyms.of(record.employee_id),
            department=record.department,
            roles=record.roles,
            key_id=record.key_id,
        )
