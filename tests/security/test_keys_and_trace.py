"""Keys: hashed at rest, shown once, revocation effective within 1 s; refusals traced for admins."""

from __future__ import annotations

import sqlite3
import time

import httpx

from gateway.identity.keys import hash_key


def _models(gateway, key: str) -> int:
    return httpx.get(f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


def test_keys_are_stored_only_as_their_sha256(secured):
    gateway, callers = secured
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    rows = connection.execute("SELECT key_hash FROM api_keys").fetchall()
    dump = "\n".join(connection.iterdump())
    connection.close()

    assert hash_key(callers.employee) in {row[0] for row in rows}
    assert callers.employee not in dump and callers.admin not in dump


def test_a_key_is_shown_once_and_never_listed(secured):
    gateway, callers = secured
    listed = httpx.get(f"{gateway.base_url}/admin/keys", headers={"Authorization": f"Bearer {callers.admin}"})

    assert listed.status_code == 200
    assert "sk-sobria-" not in listed.text


def test_revocation_takes_effect_within_one_second(secured):
    gateway, callers = secured
    key = gateway.create_key("victor", "legal")
    assert _models(gateway, key) == 200
    key_id = key.removeprefix("sk-sobria-")[:8]

    httpx.delete(f"{gateway.base_url}/admin/keys/{key_id}", headers={"Authorization": f"Bearer {callers.admin}"})
    revoked_at = time.monotonic()
    while _models(gateway, key) == 200:
        assert time.monotonic() - revoked_at < 1.0
        time.sleep(0.05)

    assert _models(gateway, key) == 401


def test_every_refused_access_is_visible_to_admins_with_the_revoked_key_it_used(secured):
    gateway, callers = secured
    assert _models(gateway, callers.revoked) == 401
    assert httpx.get(f"{gateway.base_url}/v1/models").status_code == 401
    forbidden = httpx.get(f"{gateway.base_url}/admin/keys", headers={"Authorization": f"Bearer {callers.employee}"})
    assert forbidden.status_code == 403
    time.sleep(1.0)

    trace = httpx.get(f"{gateway.base_url}/admin/access/refusals", headers={"Authorization": f"Bearer {callers.admin}"})

    entries = trace.json()["data"]
    revoked_id = callers.revoked.removeprefix("sk-sobria-")[:8]
    assert any(e["key_id"] == revoked_id and e["key_revoked"] and e["path"] == "/v1/models" for e in entries)
    assert any(e["status"] == 401 and e["key_id"] is None and e["path"] == "/v1/models" for e in entries)
    assert any(e["status"] == 403 and e["path"] == "/admin/keys" and e["key_revoked"] is False for e in entries)
