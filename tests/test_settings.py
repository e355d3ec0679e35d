"""Settings: embedded defaults, a YAML file named by SOBRIA_CONFIG, environment on top."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.settings import Settings


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
