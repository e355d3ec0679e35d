"""Message catalogue for people-facing text, in English and French.

Messages live in one YAML file per language; code refers to them by key. The
language comes from the reader's `Accept-Language`, English when nothing matches.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from policies.messages import ENGLISH as POLICY_MESSAGES

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
_DIR = Path(__file__).parent


@lru_cache(maxsize=None)
def catalogue(language: str) -> dict[str, str]:
    messages: dict[str, str] = yaml.safe_load((_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    if language == DEFAULT_LANGUAGE:  # the policy check's English lives with its code
        messages = {**POLICY_MESSAGES, **messages}
    return messages


def say(text: str, language: str = DEFAULT_LANGUAGE) -> str:
    """`text` in `language` when it carries its catalogue key (a policy check message); other text as it is."""
    key = getattr(text, "key", None)
    if key is None:
        return text
    return translate(key, language, **getattr(text, "params", {}))


def negotiate(accept_language: str | None) -> str:
    """Pick 'fr' or 'en' from an Accept-Language header, by quality then order."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


def translate(key: str, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """The message `key` in `language`, falling back to English, with params filled in."""
    text = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key, key)
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text
