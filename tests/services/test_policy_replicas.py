"""A published policy reaches every replica and survives a restart; a policy file edit is published and audited.

Three gateway processes share one fresh PostgreSQL database (budgets in process).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest
import yaml

from policies.engine import content_version
from tests.services.conftest import relay_only_catalogue, relay_only_policy
from tests.processes import Gateway, start_gateway, start_mock_upstream, stop

SHARED = {"SOBRIA_PSEUDONYM_KEY": "replicas-share-this-secret", "SOBRIA_AUDIT_KEY": "replicas-share-this-audit-key"}


@pytest.fixture
def upstream():
    mock = start_mock_upstream("--output-tokens", "10")
    yield mock
    stop(mock.process)


def seed_policy() -> str:
    return relay_only_policy()


def deny_translation_policy() -> str:
    policy = yaml.safe_load(seed_policy())
    deny = {"id": "no-translation", "when": {"use_case": ["translation"]}, "deny": {"message": "Translation is paused."}}
    policy["rules"] = [deny, *(policy.get("rules") or [])]
    policy["version_label"] = "deny-translation"
    return yaml.safe_dump(policy, allow_unicode=True, sort_keys=False)


def relabelled_policy() -> str:
    policy = yaml.safe_load(seed_policy())
    policy["version_label"] = "edited-in-the-file"
    return yaml.safe_dump(policy, allow_unicode=True, sort_keys=False)


def chat(gw: Gateway, key: str) -> int:
    response = httpx.post(
        f"{gw.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Traduis : bonjour"}]}, timeout=30,
    )
    return response.status_code


def version(gw: Gateway, admin_key: str) -> str:
    body = httpx.get(f"{gw.base_url}/admin/policy", headers={"Authorization": f"Bearer {admin_key}"}, timeout=10).json()
    return str(body["version"])


def wait_for_version(replicas: list[Gateway], admin_key: str, expected: str) -> list[str]:
    """Each replica's version once all serve `expected`, or as they stand after a generous bound."""
    deadline = time.monotonic() + 20
    while True:
        seen = [version(gw, admin_key) for gw in replicas]
        if all(v == expected for v in seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def audit_rows(database_url: str) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await conn.fetch("SELECT actor, action FROM audit_log WHERE target = 'policy' ORDER BY id")
        finally:
            await conn.close()
        return [(r["actor"], r["action"]) for r in rows]

    return asyncio.run(read())


def test_three_replicas_follow_a_published_policy_and_keep_it_after_a_restart(tmp_path, upstream, postgres_database):
    env = {"SOBRIA_DATABASE_URL": postgres_database, **SHARED}
    catalogue = relay_only_catalogue(upstream.base_url)
    replicas: list[Gateway] = []
    try:
        replicas.append(start_gateway(tmp_path / "a", catalogue, env, seed_policy()))
        with ThreadPoolExecutor(max_workers=2) as pool:
            started = [pool.submit(start_gateway, tmp_path / name, catalogue, env, seed_policy()) for name in "bc"]
        errors = [future.exception() for future in started]
        replicas += [future.result() for future, error in zip(started, errors) if error is None]
        if any(errors):
            raise next(error for error in errors if error is not None)
        admin_key = replicas[0].admin_key
        key = replicas[0].create_key("lea", "hr")
        assert [chat(gw, key) for gw in replicas] == [200, 200, 200]

        published = httpx.put(f"{replicas[0].base_url}/admin/policy", headers={"Authorization": f"Bearer {admin_key}"},
                              json={"text": deny_translation_policy()}, timeout=30).json()
        assert published["applied"] is True
        assert wait_for_version(replicas, admin_key, published["version"]) == [published["version"]] * 3
        assert [chat(gw, key) for gw in replicas] == [403, 403, 403]

        stop(replicas[0].process)  # restarts with its (now stale) seed file on disk
        replicas[0] = start_gateway(tmp_path / "a", catalogue, env, seed_policy())
        assert version(replicas[0], admin_key) == published["version"]
        assert chat(replicas[0], key) == 403

        (tmp_path / "c" / "policy.yaml").write_text(relabelled_policy())
        edited = content_version(relabelled_policy())
        assert wait_for_version(replicas, admin_key, edited) == [edited] * 3
        assert [chat(gw, key) for gw in replicas] == [200, 200, 200]

        file_actor = f"file:{tmp_path / 'c' / 'policy.yaml'}"
        updates = [row for row in audit_rows(postgres_database) if row[1] == "policy.update"]
        seed_actor = f"file:{tmp_path / 'a' / 'policy.yaml'}"
        assert updates == [(seed_actor, "policy.update"), ("admin", "policy.update"), (file_actor, "policy.update")]
        verified = replicas[1].cli("audit", "verify")
        assert verified.returncode == 0, verified.stderr
    finally:
        for gw in replicas:
            stop(gw.process)
