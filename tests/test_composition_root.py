"""The composition root: whatever starts is stopped, in reverse, even when start-up fails half-way."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.app import create_app
from gateway.settings import Settings
from policies.engine import PolicyError


def settings_for(tmp_path, policy_text: str | None = None) -> Settings:
    policy = None
    if policy_text is not None:
        policy = tmp_path / "policy.yaml"
        policy.write_text(policy_text)
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
                    policy_path=policy, ledger_flush_interval_s=0.05)


def background_tasks() -> set[asyncio.Task]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()}


class _Messages(logging.Handler):
    """Keeps the messages of the `sobria` loggers (they do not propagate to the root logger)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_a_start_up_failing_after_the_ledger_started_leaves_no_task_running(tmp_path):
    before = background_tasks()
    app = create_app(settings_for(tmp_path, "version_label: broken\nuse_cases: [{id: x, tier: enormous}]\n"))
    seen = _Messages()
    logging.getLogger("sobria").addHandler(seen)
    try:
        with pytest.raises(PolicyError):
            async with app.router.lifespan_context(app):
                pytest.fail("a broken policy must stop the start-up")
    finally:
        logging.getLogger("sobria").removeHandler(seen)
    await asyncio.sleep(0)
    assert background_tasks() - before == set()
    assert any("ledger flushed" in m for m in seen.messages)  # the ledger, started before the policy, was stopped


async def test_a_clean_start_and_stop_leaves_no_task_running(tmp_path):
    before = background_tasks()
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        running = {task.get_name() for task in background_tasks() - before}
        assert {"sobria-ledger-writer", "sobria-policy-follow", "sobria-audit-checkpoints"} <= running
    await asyncio.sleep(0)
    assert background_tasks() - before == set()
