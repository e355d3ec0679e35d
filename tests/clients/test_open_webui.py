"""Open WebUI as it really calls a gateway, replayed against real gateway processes.

Open WebUI (`ENABLE_FORWARD_USER_INFO_HEADERS=true`) sends its front-end key plus either
a signed `X-OpenWebUI-User-Jwt` (when `FORWARD_USER_INFO_HEADER_JWT_SECRET` is set: HS256,
claims sub/email/name/role/iss="open-webui"/iat/exp, 300 s by default) or the plain
`X-OpenWebUI-User-Name/Id/Email/Role` headers (the name URL-quoted). The requests below
have the shapes of its chat, streamed chat, title and tag generation, and model listing.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import jwt
import pytest

from tests.clients.conftest import client_catalogue
from tests.processes import SOBRIA, Gateway, policy_for, start_gateway, stop

SECRET = "forward-user-info-secret-for-tests-0123456789"
FALLBACKS = {"small": ["tool-small", "demo-small"], "medium": ["test-medium"], "large": ["test-large"]}
DIRECTORY = """email,user_id,name,employee_id,department
alice@example.fr,,Alice Martin,E-ALICE,finance
,7f1c2a9e-0000-4000-8000-00000000b0b0,,E-BOB,legal
,,Chloé Durand,E-CHLOE,rh
"""


def mint(claims: dict, secret: str = SECRET, lifetime_s: int = 300) -> str:
    now = int(time.time())
    base = {"sub": "u-1", "email": "alice@example.fr", "name": "Alice Martin", "role": "user",
            "iss": "open-webui", "iat": now, "exp": now + lifetime_s}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, secret, algorithm="HS256")


def frontend_gateway(tmp_path_factory, loopback, name: str, env: dict[str, str]) -> tuple[Gateway, str]:
    tmp = tmp_path_factory.mktemp(name)
    directory = tmp / "directory.csv"
    directory.write_text(DIRECTORY, encoding="utf-8")
    gateway = start_gateway(tmp, client_catalogue(loopback, litellm=False), {"SOBRIA_DIRECTORY_PATH": str(directory), **env},
                            policy_for(FALLBACKS), timeout_s=180)
    added = gateway.cli("frontend", "add", "--name", "open-webui")
    assert added.returncode == 0, added.stderr
    key = next(line.split("=", 1)[1] for line in added.stdout.splitlines() if "OPENAI_API_KEY=" in line)
    return gateway, key


@pytest.fixture(scope="module")
def signed(tmp_path_factory, loopback) -> Iterator[tuple[Gateway, str]]:
    gateway, key = frontend_gateway(tmp_path_factory, loopback, "owui-jwt",
                                    {"SOBRIA_JWT_SECRET": SECRET, "SOBRIA_JWT_MAX_LIFETIME_S": "600"})
    yield gateway, key
    stop(gateway.process)


@pytest.fixture(scope="module")
def plain(tmp_path_factory, loopback) -> Iterator[tuple[Gateway, str]]:
    gateway, key = frontend_gateway(tmp_path_factory, loopback, "owui-plain",
                                    {"SOBRIA_UNMAPPED_USERS": "charge_unmapped"})
    yield gateway, key
    stop(gateway.process)


def charged(gateway: Gateway, request_id: str) -> tuple[str, str]:
    """(employee id, department) the ledger charged for a request, the pseudonym reversed by the test."""
    key = (gateway.data_dir / "pseudonym.key").read_text().strip().encode()
    for _ in range(50):
        with sqlite3.connect(gateway.data_dir / "ledger.db") as db:
            row = db.execute("SELECT employee_pseudonym, department FROM usage_records WHERE request_id = ?",
                             (request_id,)).fetchone()
        if row:
            break
        time.sleep(0.1)
    assert row, "no ledger record"
    for employee in ("E-ALICE", "E-BOB", "E-CHLOE", "unmapped", "frontend:open-webui"):
        if hmac.new(key, employee.encode(), hashlib.sha256).hexdigest()[:32] == row[0]:
            return employee, row[1]
    return row


def owui_headers(key: str, identity: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
            "X-OpenWebUI-Chat-Id": "0b6e0c1e-chat", "X-OpenWebUI-Message-Id": "msg-1", **identity}


CHAT = {"model": "tool-small", "stream": False,
        "messages": [{"role": "system", "content": "Tu es un assistant."}, {"role": "user", "content": "Bonjour"}]}
STREAM = {**CHAT, "stream": True}
TITLE = {"model": "tool-small", "stream": False, "max_completion_tokens": 1000, "messages": [{"role": "user",
         "content": "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
                    "### Output:\nJSON format: { \"title\": \"your concise title here\" }\n"
                    "### Chat History:\n<chat_history>\nUSER: Bonjour\nASSISTANT: Bonjour !\n</chat_history>"}]}
TAGS = {**TITLE, "messages": [{"role": "user", "content": "### Task:\nGenerate 1-3 broad tags categorizing the "
        "main themes of the chat history.\n### Output:\nJSON format: { \"tags\": [\"tag1\"] }\n### Chat History:\n"
        "<chat_history>\nUSER: Bonjour\n</chat_history>"}]}


@pytest.mark.parametrize("body", [CHAT, STREAM, TITLE, TAGS], ids=["chat", "stream", "title", "tags"])
def test_signed_open_webui_requests_charge_the_directory_employee(signed, body):
    gateway, key = signed
    headers = owui_headers(key, {"X-OpenWebUI-User-Jwt": mint({})})
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert charged(gateway, response.headers["X-Request-Id"]) == ("E-ALICE", "finance")


def test_model_listing_works_with_and_without_a_user(signed):
    gateway, key = signed
    for identity in ({}, {"X-OpenWebUI-User-Jwt": mint({})}):
        listed = httpx.get(f"{gateway.base_url}/v1/models", headers=owui_headers(key, identity))
        assert listed.status_code == 200 and "tool-small" in [m["id"] for m in listed.json()["data"]]


def test_directory_lookup_falls_back_to_user_id_then_name(signed):
    gateway, key = signed
    for claims, expected in (({"email": "bob@other.fr", "sub": "7f1c2a9e-0000-4000-8000-00000000b0b0"},
                              ("E-BOB", "legal")),
                             ({"email": "chloe@other.fr", "sub": "u-9", "name": "Chloé Durand"}, ("E-CHLOE", "rh"))):
        headers = owui_headers(key, {"X-OpenWebUI-User-Jwt": mint(claims)})
        response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=CHAT, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        assert charged(gateway, response.headers["X-Request-Id"]) == expected


def refusals() -> list[tuple[str, dict[str, str]]]:
    """Each refusal and the identity that causes it, minted now: a token minted when the
    module is collected would have expired by the time a long run reaches this test."""
    now = int(time.time())
    return [
        ("unsigned_identity_headers", {"X-OpenWebUI-User-Email": "alice@example.fr", "X-OpenWebUI-User-Id": "u-1"}),
        ("jwt_missing_exp", {"X-OpenWebUI-User-Jwt": mint({"exp": None})}),
        ("jwt_expired", {"X-OpenWebUI-User-Jwt": mint({"exp": now - 3600, "iat": now - 3700})}),
        ("jwt_lifetime_too_long", {"X-OpenWebUI-User-Jwt": mint({}, lifetime_s=10 * 365 * 86400)}),
        ("jwt_wrong_issuer", {"X-OpenWebUI-User-Jwt": mint({"iss": "someone-else"})}),
        ("jwt_bad_signature", {"X-OpenWebUI-User-Jwt": mint({}, secret="the-webui-secret-key-instead-0123456789")}),
        ("user_not_in_directory", {"X-OpenWebUI-User-Jwt": mint({"email": "zoe@example.fr", "sub": "u-z",
                                                                  "name": "Zoé"})}),
    ]


def test_each_refusal_names_its_reason_in_the_answer_the_log_and_the_trace(signed):
    gateway, key = signed
    expected = refusals()
    for reason, identity in expected:
        response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=CHAT,
                              headers=owui_headers(key, identity), timeout=60)
        assert response.status_code == 401, (reason, response.text)
        error = response.json()["error"]
        assert error["code"] == "frontend_identity_refused" and reason in error["message"], reason
    admin = {"Authorization": f"Bearer {gateway.admin_key}"}
    for _ in range(50):
        trace = httpx.get(f"{gateway.base_url}/admin/access/refusals", headers=admin).json()["data"]
        if len(trace) >= len(expected):
            break
        time.sleep(0.1)
    assert {row["reason"] for row in trace} >= {reason for reason, _ in expected}
    log = gateway.log()
    assert all(reason in log for reason, _ in expected)


def test_without_a_jwt_secret_plain_headers_identify_and_unknown_users_go_to_the_unmapped_scope(plain):
    gateway, key = plain
    headers = owui_headers(key, {"X-OpenWebUI-User-Name": quote("Chloé Durand", safe=" "),
                                 "X-OpenWebUI-User-Id": "u-c", "X-OpenWebUI-User-Email": "chloe@other.fr",
                                 "X-OpenWebUI-User-Role": "user"})
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=STREAM, headers=headers, timeout=60)
    assert response.status_code == 200
    assert charged(gateway, response.headers["X-Request-Id"]) == ("E-CHLOE", "rh")
    stranger = owui_headers(key, {"X-OpenWebUI-User-Email": "mallory@example.fr", "X-OpenWebUI-User-Id": "u-m"})
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=CHAT, headers=stranger, timeout=60)
    assert response.status_code == 200
    assert charged(gateway, response.headers["X-Request-Id"]) == ("unmapped", "unmapped")
    signed_anyway = owui_headers(key, {"X-OpenWebUI-User-Jwt": mint({})})
    refused = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=CHAT, headers=signed_anyway, timeout=60)
    assert refused.status_code == 401 and "jwt_secret_not_configured" in refused.json()["error"]["message"]


def test_frontend_add_prints_the_open_webui_settings_not_the_webui_secret(plain):
    gateway, _ = plain
    added = gateway.cli("frontend", "add", "--name", "owui-2", "--gateway-url", "http://sobria:8000/v1")
    lines = added.stdout.splitlines()
    assert "  ENABLE_FORWARD_USER_INFO_HEADERS=true" in lines
    assert "  OPENAI_API_BASE_URL=http://sobria:8000/v1" in lines
    owui = next(line for line in lines if "FORWARD_USER_INFO_HEADER_JWT_SECRET=" in line).split("=", 1)[1]
    sobria = next(line for line in lines if "SOBRIA_JWT_SECRET=" in line).split("=", 1)[1]
    assert owui == sobria and len(owui) >= 32
    assert not any(line.strip().startswith("WEBUI_SECRET_KEY=") for line in lines)


def test_cli_refuses_to_create_an_empty_gateway_elsewhere(plain, tmp_path):
    gateway, _ = plain
    env = {k: v for k, v in gateway.env.items() if k != "SOBRIA_DATA_DIR"}
    elsewhere = subprocess.run([str(SOBRIA), "keys", "list"], env=env, cwd=tmp_path, capture_output=True, text=True,
                               check=False)
    assert elsewhere.returncode == 2 and "--data-dir" in elsewhere.stderr
    assert not (tmp_path / "sobria-data").exists()
    pointed = subprocess.run([str(SOBRIA), "--data-dir", str(gateway.data_dir), "keys", "list"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert pointed.returncode == 0 and "frontend:open-webui" in pointed.stdout


PLAIN_ALICE = {"X-OpenWebUI-User-Name": quote("Alice Martin", safe=" "), "X-OpenWebUI-User-Id": "u-1",
               "X-OpenWebUI-User-Email": "alice@example.fr", "X-OpenWebUI-User-Role": "user"}


@pytest.mark.parametrize("body", [CHAT, STREAM, TITLE, TAGS], ids=["chat", "stream", "title", "tags"])
def test_plain_header_open_webui_requests_charge_the_directory_employee(plain, body):
    gateway, key = plain
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body,
                          headers=owui_headers(key, PLAIN_ALICE), timeout=60)
    assert response.status_code == 200, response.text
    assert charged(gateway, response.headers["X-Request-Id"]) == ("E-ALICE", "finance")


def test_model_listing_works_with_and_without_plain_identity_headers(plain):
    gateway, key = plain
    for identity in ({}, PLAIN_ALICE):
        listed = httpx.get(f"{gateway.base_url}/v1/models", headers=owui_headers(key, identity))
        assert listed.status_code == 200 and "tool-small" in [m["id"] for m in listed.json()["data"]]


def test_a_configured_audience_is_required_and_checked():
    from gateway.identity.auth import Authenticator, Directory, FrontendPolicy, FrontendRefused

    policy = FrontendPolicy(jwt_secret=SECRET, jwt_max_lifetime_s=600, jwt_audience="sobria")
    authenticator = Authenticator(None, b"k", Directory.load(None), policy)
    assert authenticator._verified(mint({"aud": "sobria"}), SECRET).email == "alice@example.fr"
    for claims, reason in (({"aud": "another-service"}, "jwt_wrong_audience"), ({}, "jwt_missing_aud")):
        with pytest.raises(FrontendRefused) as refused:
            authenticator._verified(mint(claims), SECRET)
        assert refused.value.reason == reason


def test_cli_finds_the_gateway_through_its_settings_file_from_another_folder(plain, tmp_path):
    gateway, _ = plain
    settings = tmp_path / "sobria.yaml"
    settings.write_text(f"data_dir: {gateway.data_dir}\n", encoding="utf-8")
    env = {**{k: v for k, v in gateway.env.items() if k != "SOBRIA_DATA_DIR"}, "SOBRIA_CONFIG": str(settings)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = subprocess.run([str(SOBRIA), "keys", "list"], env=env, cwd=elsewhere, capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    assert "frontend:open-webui" in listed.stdout and not (elsewhere / "sobria-data").exists()
