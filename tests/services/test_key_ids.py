"""Key ids can be typed on a command line: none starts with a dash."""

from __future__ import annotations

import secrets

from gateway.identity.keys import KeyStore


async def test_a_key_id_never_starts_with_a_dash(engine, monkeypatch):
    drawn = iter(["-1A9QJqO" + "a" * 35, "x1A9QJqO" + "b" * 35])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _: next(drawn))
    key, record = await KeyStore(engine).create("laptop", "ines", "it", ["employee"])
    assert record.key_id == "x1A9QJqO" and key.endswith("b" * 35)
