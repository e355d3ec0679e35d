"""A short run of the soak (bench/soak.py): the same code and invariants, 30 s of traffic."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from tests.conftest import IN_CI, require_server
from tests.processes import ROOT


def _soak_module():
    spec = importlib.util.spec_from_file_location("sobria_bench_soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_short_soak_keeps_every_invariant(tmp_path):
    require_server("PostgreSQL", "127.0.0.1", 5432)
    if shutil.which("redis-server") is None:
        (pytest.fail if IN_CI else pytest.skip)("redis-server is not installed")
    soak = _soak_module()
    config = soak.SoakConfig(duration_s=30, rate_rps=12, workers=2, sample_every_s=2, warmup_s=10)

    report = soak.run_soak(config, tmp_path)

    print(report.summary())
    assert report.sent == 360
    assert report.errors == {}
    assert report.streamed == report.answered // 2
    assert report.ledger_rows == report.answered == report.sent  # a row per request, refusals included
    assert report.answered_missing_from_ledger == 0
    assert report.rss_growth < config.max_rss_growth
    assert report.budget_spent_micro_eur == report.ledger_micro_eur
    assert report.violations == []
