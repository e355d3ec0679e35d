"""The JSON Schema shipped for editors matches the pydantic schema."""

from __future__ import annotations

import json

from policies.schema import SCHEMA_PATH, json_schema


def test_exported_json_schema_is_up_to_date():
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == json_schema()


def test_json_schema_names_the_top_level_sections():
    assert {"use_cases", "rules", "fallbacks", "aliases", "defaults"} <= set(json_schema()["properties"])
