"""Which Sobria roles an identity provider's groups give, as the settings map them."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from admin_ui.oidc import OidcSettings
from admin_ui.session import Session, SessionCodec
from gateway.settings import Settings

MAP = {"sobria-ethics": "committee", "sobria-csr": "csr", "it-admins": "admin"}


@pytest.mark.parametrize(("claims", "roles"), [
    ({"groups": ["sobria-ethics", "staff"]}, {"employee", "committee"}),
    ({"groups": "it-admins sobria-csr"}, {"employee", "admin", "csr"}),
    ({"groups": "sobria-csr,staff"}, {"employee", "csr"}),
    ({"groups": ["Sobria-Ethics", "sobria-ethics-old"]}, {"employee"}),  # exact names only
    ({"groups": {"sobria-ethics": True}}, {"employee"}),  # not a list: no role
    ({}, {"employee"}),
])
def test_mapped_groups_give_their_roles_and_nothing_else(claims, roles):
    settings = OidcSettings(issuer="https://idp.example", role_map=MAP)
    assert settings.roles_of(claims) == roles


def test_a_nested_claim_is_reached_by_a_dotted_path():
    settings = OidcSettings(issuer="https://idp.example", roles_claim="realm_access.roles", role_map=MAP)
    assert settings.roles_of({"realm_access": {"roles": ["it-admins"]}}) == {"employee", "admin"}
    assert settings.roles_of({"realm_access": "it-admins"}) == {"employee"}


def test_the_map_is_read_from_the_environment_and_an_unknown_role_stops_the_start(monkeypatch):
    monkeypatch.delenv("SOBRIA_CONFIG", raising=False)
    monkeypatch.setenv("SOBRIA_OIDC_ROLE_MAP", json.dumps({"it-admins": "admin"}))
    assert OidcSettings.of(Settings()).role_map == {"it-admins": "admin"}
    monkeypatch.setenv("SOBRIA_OIDC_ROLE_MAP", json.dumps({"it-admins": "superuser"}))
    with pytest.raises(ValidationError, match="unknown roles superuser"):
        Settings()


def test_the_sign_in_settings_are_read_from_the_yaml_file_like_any_other(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("oidc_issuer: https://idp.example\noidc_client_id: gateway\noidc_scope: openid email groups\n"
                      "oidc_role_map: {sobria-csr: csr}\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    for name in ("ISSUER", "CLIENT_ID", "SCOPE", "ROLE_MAP"):
        monkeypatch.delenv(f"SOBRIA_OIDC_{name}", raising=False)
    oidc = OidcSettings.of(Settings())
    assert (oidc.issuer, oidc.client_id, oidc.scope) == ("https://idp.example", "gateway", "openid email groups")
    assert oidc.roles_of({"groups": ["sobria-csr"]}) == {"employee", "csr"}


def test_the_roles_travel_signed_in_the_session_and_cannot_be_added_by_hand():
    codec = SessionCodec(b"secret")
    session = Session.anonymous(60).signed_in_employee("carla", "ethics", 60, ("employee", "committee"))
    assert codec.decode(codec.encode(session)).roles == ("committee", "employee")
    plain = codec.encode(Session.anonymous(60).signed_in_employee("eve", "ops", 60))
    payload, _, signature = plain.partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["r"] = ["employee", "admin"]
    forged = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    assert codec.decode(f"{forged}.{signature}") is None
