"""Routing through the real request path: an in-process gateway, the shipped catalogue's
demo models and default policy, a SQLite ledger read back with SQL (issue 16).

What a ledger row must say about a classified request (confidence, runner-up, whether the
low-confidence rule decided), that the last user turn of a chat decides, and that a demo
answer is estimated at the model's modelled generation time, not its milliseconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from estimators.hosted import HostedEstimator
from gateway.app import create_app
from gateway.providers.catalogue import Catalogue
from gateway.settings import Settings


@dataclass
class Gateway:
    client: httpx.AsyncClient
    key: str
    ledger: Path

    async def chat(self, messages: list[dict[str, str]], **headers: str) -> httpx.Response:
        return await self.client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": messages},
            headers={"Authorization": f"Bearer {self.key}", **headers},
        )

    async def row(self, request_id: str) -> sqlite3.Row:
        """The ledger row of a request, once the writer has flushed it."""
        for _ in range(200):
            connection = sqlite3.connect(self.ledger)
            connection.row_factory = sqlite3.Row
            try:
                found = connection.execute(
                    "SELECT * FROM usage_records WHERE request_id = ?", (request_id,)
                ).fetchone()
            except sqlite3.OperationalError:
                found = None
            finally:
                connection.close()
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no ledger row for {request_id}")


@pytest.fixture
async def gateway(tmp_path) -> AsyncIterator[Gateway]:
    ledger = tmp_path / "ledger.db"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{ledger}",
        redis_url=None,
        ledger_flush_interval_s=0.05,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        key, _ = await app.state.keys.create("routing test", "alice", "finance", ["employee"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sobria.test") as client:
            yield Gateway(client, key, ledger)


async def _row_of(gateway: Gateway, response: httpx.Response) -> sqlite3.Row:
    assert response.status_code == 200, response.text
    return await gateway.row(response.headers["X-Request-Id"])


async def test_a_classified_request_records_confidence_and_runner_up_in_the_ledger(gateway):
    response = await gateway.chat([{"role": "user", "content": "Traduis ce courriel en anglais, s'il te plaît."}])
    row = await _row_of(gateway, response)
    assert (row["use_case"], response.headers["X-Sobria-Use-Case"]) == ("translation", "translation")
    assert 0.35 <= row["classifier_confidence"] <= 1.0
    assert row["classifier_runner_up"] not in (None, "translation")
    assert 0.0 < row["classifier_runner_up_confidence"] < row["classifier_confidence"]
    assert row["classifier_low_confidence"] == 0


async def test_an_uncertain_request_is_flagged_in_the_ledger(gateway):
    row = await _row_of(gateway, await gateway.chat([{"role": "user", "content": "zxq vvv"}]))
    assert row["classifier_low_confidence"] == 1
    assert row["classifier_confidence"] < 0.35
    assert row["classifier_runner_up"] is not None


async def test_a_named_use_case_records_no_classifier_figures(gateway):
    response = await gateway.chat([{"role": "user", "content": "Bonjour"}], **{"X-Sobria-Use-Case": "translation"})
    row = await _row_of(gateway, response)
    assert row["use_case"] == "translation"
    assert (row["classifier_confidence"], row["classifier_runner_up"], row["classifier_low_confidence"]) == (None, None, None)


CHAT = [
    {"role": "system", "content": "Tu es l'assistant interne de la DSI."},
    {"role": "user", "content": "Traduis ce paragraphe en anglais : le comité se réunira jeudi à 14 h."},
    {"role": "assistant", "content": "The committee will meet on Thursday at 2 pm."},
    {"role": "user", "content": "Merci. Maintenant écris un script Python qui lit un fichier CSV et affiche la somme de la colonne montant."},
]


async def test_the_last_user_turn_decides_in_a_multi_turn_chat(gateway):
    row = await _row_of(gateway, await gateway.chat(CHAT))
    assert row["use_case"] == "code"
    assert row["classifier_low_confidence"] == 0


async def test_earlier_turns_do_not_drag_a_chat_to_general(gateway):
    history = []
    for turn in range(6):
        history += [
            {"role": "user", "content": f"Question {turn} : quelle est la date de la prochaine réunion ?"},
            {"role": "assistant", "content": "Jeudi prochain."},
        ]
    history.append({"role": "user", "content": "Summarise this email in two sentences:\n\n" + "The move is delayed. " * 40})
    row = await _row_of(gateway, await gateway.chat(history))
    assert row["use_case"] == "summarisation"


async def test_a_demo_answer_is_estimated_at_the_modelled_generation_time(gateway):
    response = await gateway.chat(
        [{"role": "user", "content": "Translate: the cat sleeps."}], **{"X-Sobria-Use-Case": "translation"}
    )
    row = await _row_of(gateway, response)
    assert row["demo"] == 1 and row["latency_ms"] < 1_000
    spec = Catalogue.load(env={}).get(row["served_model"])
    assert spec is not None and spec.is_demo
    estimator = HostedEstimator()  # the estimator the app builds
    modelled = estimator.estimate(spec.impact, row["input_tokens"], row["output_tokens"], None)
    at_demo_speed = estimator.estimate(spec.impact, row["input_tokens"], row["output_tokens"], row["latency_ms"] / 1000)
    assert row["energy_wh"] == pytest.approx(modelled.energy_wh.value, rel=1e-9)
    assert at_demo_speed.energy_wh.value < modelled.energy_wh.value
