"""`sobria policy check` reports drift between the policy and the committee's register."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.ledger import db

SOBRIA = Path(sys.executable).with_name("sobria")
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "default_policy.yaml"


def run_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOBRIA_DATA_DIR": str(tmp_path)}
    return subprocess.run([str(SOBRIA), "policy", "check", str(DEFAULT_POLICY), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_check_reports_policy_use_cases_missing_from_the_register(tmp_path):
    db.upgrade_sync(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    done = run_check(tmp_path)
    assert done.returncode == 0
    assert "drift:" in done.stderr and "translation" in done.stderr


def test_check_strict_fails_on_drift(tmp_path):
    db.upgrade_sync(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    assert run_check(tmp_path, "--strict").returncode == 2


def test_check_without_a_register_reports_no_drift(tmp_path):
    done = run_check(tmp_path, "--no-register")
    assert done.returncode == 0 and "drift" not in done.stderr
