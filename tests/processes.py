"""Real processes for end-to-end tests: the mock upstream and `sobria serve`.

Both run as subprocesses on free loopback ports, exactly as an operator would start
them, and are stopped (SIGTERM, then SIGKILL) when the test is done.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SOBRIA = Path(sys.executable).with_name("sobria")


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


def stop(process: subprocess.Popen, timeout_s: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class MockUpstream:
    port: int
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, int]:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats").json()


def start_mock_upstream(*args: str) -> MockUpstream:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "mock_upstream.py"), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mock = MockUpstream(port, process)
    wait_until_up(f"http://127.0.0.1:{port}/stats", process)
    return mock


def mock_model(
    name: str,
    tier: str,
    upstream_url: str,
    price_in: str,
    price_out: str,
    ecologits: tuple[str, str] = ("mistralai", "mistral-small-latest"),
    zone: str = "FRA",
    max_output_tokens: int = 256,
) -> str:
    """One catalogue entry served by the mock upstream (real HTTP through the gateway)."""
    provider, model = ecologits
    return f"""
  - name: {name}
    tier: {tier}
    litellm_params: {{model: openai/{name}, api_base: "{upstream_url}", api_key: mock}}
    price_eur_per_mtok: {{input: "{price_in}", output: "{price_out}"}}
    max_output_tokens: {max_output_tokens}
    impact: {{provider: {provider}, ecologits_provider: {provider}, ecologits_model: {model}, zone: {zone}}}"""


def catalogue_for(upstream_url: str, extra_models: str = "") -> str:
    """A catalogue whose small, medium and large models are the mock upstream, plus one demo model."""
    return (
        "version: test\nmodels:"
        + mock_model("test-small", "small", upstream_url, "0.10", "0.30")
        + mock_model("test-medium", "medium", upstream_url, "0.40", "2.00", ("mistralai", "mistral-medium-latest"))
        + mock_model("test-large", "large", upstream_url, "2.00", "6.00", ("openai", "gpt-4o"), "USA")
        + """
  - name: demo-small
    tier: small
    litellm_params: {model: mistral/mistral-small-latest}
    api_key_env: SOBRIA_TEST_NEVER_SET
    price_eur_per_mtok: {input: "0.10", output: "0.30"}
    max_output_tokens: 256
    impact: {provider: mistralai, ecologits_provider: mistralai, ecologits_model: mistral-small-latest, zone: SWE}
"""
        + extra_models
        + "\n"
    )


@dataclass
class Gateway:
    port: int
    process: subprocess.Popen
    admin_key: str  # printed on the first start against a database; "" for later replicas
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run a `sobria` sub-command against this gateway's settings."""
        return subprocess.run([str(SOBRIA), *args], env=self.env, capture_output=True, text=True, timeout=120)

    def create_key(self, employee: str, department: str, *roles: str) -> str:
        role_args = [a for r in (roles or ("employee",)) for a in ("--role", r)]
        done = self.cli("keys", "create", "--employee", employee, "--department", department, *role_args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


def policy_for(fallbacks: dict[str, list[str]]) -> str:
    """The shipped default policy with fallback chains naming the test catalogue's models."""
    policy = yaml.safe_load((ROOT / "policies" / "default_policy.yaml").read_text(encoding="utf-8"))
    policy["fallbacks"] = fallbacks
    return yaml.safe_dump(policy, allow_unicode=True, sort_keys=False)


TEST_FALLBACKS = {"small": ["test-small", "demo-small"], "medium": ["test-medium"], "large": ["test-large"]}


def start_gateway(
    tmp_path: Path,
    catalogue_yaml: str,
    extra_env: dict[str, str] | None = None,
    policy_yaml: str | None = None,
    timeout_s: float = 60.0,
) -> Gateway:
    data_dir = tmp_path / "sobria-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(catalogue_yaml)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml or policy_for(TEST_FALLBACKS))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "SOBRIA_DATA_DIR": str(data_dir),
        "SOBRIA_CATALOGUE_PATH": str(catalogue),
        "SOBRIA_POLICY_PATH": str(policy),
        "SOBRIA_PORT": str(port),
        "SOBRIA_LEDGER_FLUSH_INTERVAL_S": "0.05",
        **(extra_env or {}),
    }
    log_path = tmp_path / f"gateway-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(SOBRIA), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process, float(os.environ.get("SOBRIA_TEST_START_TIMEOUT_S", timeout_s)))
    except BaseException:
        stop(process)  # a gateway that never came up is not left running
        raise
    match = re.search(r"sk-sobria-[A-Za-z0-9_-]+", log_path.read_text())
    return Gateway(port, process, match.group(0) if match else "", data_dir, env, log_path)
