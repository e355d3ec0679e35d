"""Property-based fuzzing of every operation in the gateway's own OpenAPI document.

schemathesis generates valid and invalid requests for every public and admin operation
and sends them to a real gateway, once as an admin, once as an employee and once with a
key that does not exist: no answer may be a 5xx, none may break its declared schema,
and none may take longer than the bound.
"""

from __future__ import annotations

from collections.abc import Iterator
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import Gateway, catalogue_for, start_gateway, start_mock_upstream, stop

MAX_RESPONSE_TIME_S = "5"
EXAMPLES_PER_OPERATION = "4"
#: The admin reaches every operation's logic, so it gets the coverage phase (boundary and
#: invalid values); the other callers are refused early and get a shorter run.
PHASES = {"admin": "examples,coverage,fuzzing", "employee": "examples,fuzzing", "unknown key": "examples,fuzzing"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    upstream = start_mock_upstream("--output-tokens", "8")
    gw = start_gateway(tmp_path_factory.mktemp("fuzz"), catalogue_for(upstream.base_url))
    yield gw
    stop(gw.process)
    stop(upstream.process)


def _schemathesis(gateway: Gateway, key: str, phases: str, report: Path) -> subprocess.CompletedProcess:
    executable = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    command = [
        executable, "run", f"{gateway.base_url}/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--max-response-time", MAX_RESPONSE_TIME_S,
        "--max-examples", EXAMPLES_PER_OPERATION,
        "--seed", "9",
        "--phases", phases,
        "--header", f"Authorization: Bearer {key}",
        "--header", "X-Sobria-Use-Case: translation",
        "--request-timeout", "20",
        "--workers", "1",  # hypothesis parses lambda sources with ast, which is not thread-safe
        "--no-color",
        "--report-dir", str(report),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("caller", ["admin", "employee", "unknown key"])
def test_no_operation_answers_a_5xx_or_breaks_its_schema(gateway, caller, tmp_path):
    key = {
        "admin": lambda: gateway.admin_key,
        "employee": lambda: gateway.create_key("fuzz", "legal"),
        "unknown key": lambda: "sk-sobria-" + "0" * 43,
    }[caller]()

    done = _schemathesis(gateway, key, PHASES[caller], tmp_path)

    assert done.returncode == 0, done.stdout[-6000:]
