"""Text normalised at the database boundary, so that nothing a request contains can stop a write.

PostgreSQL refuses the NUL character in `text`, `varchar` and `json(b)` values, and any
string that is not valid UTF-8 (Python strings may hold lone surrogates, which
`"\\ud800"`-style JSON escapes produce). Every string bound for a table goes through
`clean_row`: NUL removed, lone surrogates replaced by U+FFFD, `String(n)` columns cut to
`n` characters, JSON values cleaned recursively (keys too). Other values pass as they are.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, String, Table, Text

REPLACEMENT = "\ufffd"


def clean_text(value: str, limit: int | None = None) -> str:
    """`value` without NUL, as valid UTF-8, at most `limit` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        value = "".join(REPLACEMENT if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


def clean_json(value: Any) -> Any:
    """A JSON value with every string (and key) cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) if isinstance(v, _NESTED) else v for v in value]
    return value


_NESTED = (str, dict, list, tuple)
"""What `clean_json` must look into; numbers, booleans and None pass without a call."""


@lru_cache(maxsize=64)
def _text_columns(table: Table) -> tuple[tuple[str, str, int | None], ...]:
    columns = []
    for column in table.columns:
        if isinstance(column.type, JSON):
            columns.append((column.name, "json", None))
        elif isinstance(column.type, String | Text):
            columns.append((column.name, "text", getattr(column.type, "length", None)))
    return tuple(columns)


def clean_row(row: dict[str, Any], table: Any) -> dict[str, Any]:
    """The row as the table can store it (a new dict; `table` a Table or a mapped class)."""
    table = getattr(table, "__table__", table)
    cleaned = dict(row)
    for name, kind, limit in _text_columns(table):
        value = cleaned.get(name)
        if value is None:
            continue
        if kind == "json":
            cleaned[name] = clean_json(value)
        elif isinstance(value, str):
            cleaned[name] = clean_text(value, limit)
    return cleaned
