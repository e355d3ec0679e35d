"""One structured JSON log line per request: its id and outcome, never the prompt."""

from __future__ import annotations

import json


def request_lines(gateway) -> list[dict]:
    return [json.loads(line) for line in gateway.log.getvalue().splitlines() if line.strip()]


async def test_each_request_logs_one_json_line_with_its_request_id(gateway):
    response = await gateway.chat()
    lines = request_lines(gateway)
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["status"], line["http_status"], line["model"]) == ("ok", 200, "test-small")
    assert line["use_case"] == "translation" and line["latency_ms"] > 0


async def test_a_refusal_is_logged_with_its_code(gateway):
    await gateway.chat(model="no-such-model")
    assert [(line["status"], line["http_status"]) for line in request_lines(gateway)] == [("model_not_found", 404)]


async def test_the_request_line_never_carries_prompt_text(gateway):
    await gateway.client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "mot de passe secret 1234"}]},
        headers={"Authorization": f"Bearer {gateway.key}"},
    )
    assert "secret 1234" not in gateway.log.getvalue()
    assert "alice" not in gateway.log.getvalue()
