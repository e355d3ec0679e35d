"""Requests through a real server leave nothing for the cyclic garbage collector.

A request's objects are freed by their reference counts as it ends. A worker that
holds thousands of streams is then never paused to look for them: the collector's
passes stay short (`gateway/gc_pacing.py`, `bench/streams_scale.py --churn-s`). The
server is uvicorn, as `sobria serve` runs it, since the cycle this guards against went
through uvicorn's own request object.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import free_port
from tests.processes import TEST_FALLBACKS, catalogue_for, policy_for

REQUESTS = 30


@dataclass(frozen=True)
class Shape:
    body: dict[str, Any]
    status: int


PASTED = "Bonjour,\n\nLa réunion de jeudi est déplacée à vendredi 10 h.\x00 Merci.\n" * 40
#: What real clients send, the refused included: an error's traceback must not leave a cycle either.
SHAPES = (
    Shape({"model": "auto", "messages": [{"role": "user", "content": "Le chat dort."}]}, 200),
    Shape({"model": "auto", "stream": True, "stream_options": {"include_usage": True},
           "messages": [{"role": "user", "content": "Traduis ce mail en anglais :\n\n" + PASTED}]}, 200),
    Shape({"model": "auto", "messages": [{"role": "system", "content": "Tu es concis."},
                                         {"role": "user", "content": "Bonjour"},
                                         {"role": "assistant", "content": "Bonjour !"},
                                         {"role": "user", "content": [{"type": "text", "text": "Et en anglais ?"}]}]},
          200),
    Shape({"model": "auto", "messages": [{"role": "user", "content": "Quelle heure ?"}],
           "tools": [{"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}]}, 200),
    Shape({"model": "no-such-model", "messages": [{"role": "user", "content": "Le chat dort."}]}, 404),
    Shape({"model": "auto", "messages": "not a list"}, 400),
)


@pytest.fixture
def served(tmp_path, mock_upstream) -> Iterator[tuple[int, str, FastAPI]]:
    """(port, employee key, application) of the gateway under uvicorn in a thread of this process."""
    (tmp_path / "catalogue.yaml").write_text(catalogue_for(mock_upstream.base_url))
    (tmp_path / "policy.yaml").write_text(policy_for(TEST_FALLBACKS))
    settings = Settings(data_dir=tmp_path / "data", catalogue_path=tmp_path / "catalogue.yaml",
                        policy_path=tmp_path / "policy.yaml", redis_url=None,
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
                        gc_check_every_s=0)  # no pass of the pacer's own before the test looks
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        key, _ = asyncio.run_coroutine_threadsafe(
            app.state.keys.create("garbage test", "gaspard", "finance", ["employee"]), loop).result(30)
        yield port, key, app
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


def _garbage_after(port: int, key: str, app: FastAPI, requests: int) -> Counter[str]:
    """Send `requests` chat requests (the `SHAPES` in turn), wait for their ledger
    rows to be written, then count by type what only the cyclic collector could free. The client is the standard library's, which
    leaves no cycle of its own (httpx's sync client leaves one per response)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation",
               "Content-Type": "application/json"}
    try:
        for i in range(requests):
            shape = SHAPES[i % len(SHAPES)]
            connection.request("POST", "/v1/chat/completions", body=json.dumps(shape.body), headers=headers)
            answer = connection.getresponse()
            text = answer.read()
            assert answer.status == shape.status, text
    finally:
        connection.close()
    for _ in range(600):
        if app.state.ledger.pending == 0:
            break
        time.sleep(0.05)
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = Counter(f"{type(obj).__module__}.{type(obj).__qualname__}" for obj in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    return found


def test_chat_requests_leave_no_garbage_that_grows_with_their_number(served):
    port, key, app = served
    gc.collect()
    gc.disable()
    try:
        _garbage_after(port, key, app, len(SHAPES))  # first uses: caches, pools, imports and statements made once
        found = _garbage_after(port, key, app, REQUESTS)
    finally:
        gc.enable()

    per_request = {kind: count for kind, count in found.items() if count >= REQUESTS // 2}
    assert per_request == {}, found.most_common(10)
