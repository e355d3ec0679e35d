"""Import and export of the register as YAML, JSON or CSV (one flattened row per use case)."""

from __future__ import annotations

import csv
import io
import json
import typing
from collections.abc import Iterable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from contracts.errors import InvalidInput

from gateway.inventory.model import UseCaseRecord

Format = Literal["yaml", "json", "csv"]
LIST_SEPARATOR = "; "


def _columns() -> list[tuple[str, str, bool]]:
    """(section, field, is_list) for every field of a record, in declaration order."""
    columns: list[tuple[str, str, bool]] = []
    for section, info in UseCaseRecord.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, sub in annotation.model_fields.items():
                columns.append((section, name, typing.get_origin(sub.annotation) is list))
        else:
            columns.append((section, "", False))
    return columns


def csv_header() -> list[str]:
    return [f"{section}.{name}" if name else section for section, name, _ in _columns()]


def dump(records: Iterable[UseCaseRecord], fmt: Format) -> str:
    """The records as text in the format asked."""
    documents = [r.model_dump(mode="json") for r in records]
    if fmt == "json":
        return json.dumps({"use_cases": documents}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump({"use_cases": documents}, allow_unicode=True, sort_keys=False)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_header())
    for doc in documents:
        row = []
        for section, name, is_list in _columns():
            value = doc[section][name] if name else doc[section]
            if is_list:
                value = LIST_SEPARATOR.join(str(v) for v in value or ())
            row.append("" if value is None else str(value).lower() if isinstance(value, bool) else value)
        writer.writerow(row)
    return out.getvalue()


def _from_csv(text: str) -> list[dict[str, Any]]:
    documents = []
    for row in csv.DictReader(io.StringIO(text)):
        doc: dict[str, Any] = {}
        for section, name, is_list in _columns():
            raw = row.get(f"{section}.{name}" if name else section)
            if raw is None:
                continue
            value: Any = [v for v in raw.split(LIST_SEPARATOR.strip()) if v.strip()] if is_list else raw
            if is_list:
                value = [v.strip() for v in value]
            elif raw == "":
                continue
            if name:
                doc.setdefault(section, {})[name] = value
            else:
                doc[section] = value
        documents.append(doc)
    return documents


def load(text: str, fmt: Format) -> list[UseCaseRecord]:
    """Parse and validate records; an `InvalidInput` names the first invalid one."""
    try:
        if fmt == "csv":
            documents = _from_csv(text)
        else:
            data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
            documents = data.get("use_cases", []) if isinstance(data, dict) else data or []
        return [UseCaseRecord.model_validate(doc) for doc in documents]
    except (ValidationError, ValueError, yaml.YAMLError, AttributeError) as exc:
        raise InvalidInput("register_import_invalid", detail=str(exc).splitlines()[0][:300]) from None
