"""Settings: embedded defaults, a YAML file named by SOBRIA_CONFIG, environment on top."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.settings import Settings, UnknownSettingError


def test_defaults_need_no_configuration(monkeypatch, tmp_path):
    monkeypatch.delenv("SOBRIA_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.budgets.employee.eur == Decimal(50)


def test_yaml_file_sets_budgets(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("budgets:\n  employee: {eur: 80, gco2e_g: 3000}\n  departments: {finance: {gco2e_g: 50000}}\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    settings = Settings()
    assert settings.budgets.employee.eur == Decimal(80)
    assert settings.budgets.departments["finance"].gco2e_g == Decimal(50000)


def test_environment_wins_over_the_yaml_file(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("port: 9000\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    monkeypatch.setenv("SOBRIA_PORT", "9100")
    assert Settings().port == 9100


def test_nested_environment_variable_sets_one_budget_field(monkeypatch):
    monkeypatch.delenv("SOBRIA_CONFIG", raising=False)
    monkeypatch.setenv("SOBRIA_BUDGETS__EMPLOYEE__EUR", "12.5")
    assert Settings().budgets.employee.eur == Decimal("12.5")


def test_replicas_sharing_redis_must_share_a_pseudonym_key(tmp_path):
    settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="SOBRIA_PSEUDONYM_KEY"):
        settings.effective_pseudonym_key()


def test_an_unknown_yaml_key_is_an_error_naming_it(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("port: 9000\nk_anonymty: 8\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    with pytest.raises(UnknownSettingError, match="'k_anonymty'") as raised:
        Settings()
    assert raised.value.key == "k_anonymty"


def test_the_inventory_settings_are_read_from_yaml_like_any_other(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("k_anonymity: 8\nuse_case_refresh_s: 2.5\nupstream_relay: false\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    settings = Settings()
    assert (settings.k_anonymity, settings.use_case_refresh_s, settings.upstream_relay) == (8, 2.5, False)


def test_k_anonymity_below_five_in_yaml_is_refused(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("k_anonymity: 3\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    with pytest.raises(ValueError, match="k_anonymity"):
        Settings()


def test_the_upstream_relay_switch_is_a_setting(monkeypatch):
    monkeypatch.delenv("SOBRIA_CONFIG", raising=False)
    monkeypatch.setenv("SOBRIA_UPSTREAM_RELAY", "off")
    assert Settings().upstream_relay is False


def test_an_unknown_key_inside_a_nested_section_is_an_error_naming_it(monkeypatch, tmp_path):
    config = tmp_path / "sobria.yaml"
    config.write_text("budgets:\n  employe: {eur: 80}\n")
    monkeypatch.setenv("SOBRIA_CONFIG", str(config))
    with pytest.raises(ValueError, match="employe"):
        Settings()


def test_the_audit_key_is_configured_or_derived_never_empty(tmp_path):
    assert Settings(data_dir=tmp_path, audit_key="k").effective_audit_key() == b"k"
    key_file = tmp_path / "audit.key"
    key_file.write_text("from-a-file\n")
    assert Settings(data_dir=tmp_path, audit_key_file=key_file).effective_audit_key() == b"from-a-file"
    derived = Settings(data_dir=tmp_path, pseudonym_key="p").effective_audit_key()
    assert derived and derived != b"p" and derived == Settings(data_dir=tmp_path, pseudonym_key="p").effective_audit_key()


def test_the_shipped_policy_names_the_setting_that_exists():
    from pathlib import Path

    shipped = (Path(__file__).resolve().parent.parent / "policies" / "default_policy.yaml").read_text()
    assert "SOBRIA_POLICY_PATH" in shipped and "SOBRIA_POLICY_FILE" not in shipped
    assert "policy_path" in Settings.model_fields
