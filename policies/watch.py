"""Reload the policy when its file changes: validate first, keep the old one on error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from policies.engine import PolicyEngine, ReloadResult

log = logging.getLogger("sobria.policy")


async def watch_policy_file(
    engine: PolicyEngine,
    interval_s: float = 5.0,
    on_reload: Callable[[ReloadResult], Awaitable[None]] | None = None,
) -> None:
    """Poll the engine's policy file until cancelled; log every reload and every rejection."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = engine.reload_if_changed()
        except OSError as exc:
            log.error("policy file unreadable, keeping version %s: %s", engine.version, exc)
            continue
        if result is None:
            continue
        if result.loaded:
            log.info("policy reloaded: %s -> %s", result.previous_version, result.version)
        else:
            log.error(
                "policy file rejected, keeping version %s: %s",
                result.version,
                "; ".join(issue.render(engine.source) for issue in result.issues),
            )
        if on_reload is not None:
            await on_reload(result)
