"""What changes between two policies: settings, use cases, rules (rule by rule), fallbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.schema import Policy


@dataclass(frozen=True, slots=True)
class Change:
    """One difference; `kind` is added, removed, changed or moved."""

    section: str
    key: str
    kind: str
    detail: str

    def render(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~", "moved": ">"}[self.kind]
        key = f" {self.key}" if self.key else ""
        return f"{mark} {self.section}{key}: {self.detail}"


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    parts = []
    for name in dict.fromkeys([*old, *new]):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name == "examples":
            added = len(set(after or []) - set(before or []))
            removed = len(set(before or []) - set(after or []))
            parts.append(f"examples +{added} -{removed}")
        else:
            parts.append(f"{name} {_fmt(before) if before is not None else '(none)'} -> {_fmt(after) if after is not None else '(none)'}")
    return parts


def _keyed(section: str, old: list[dict[str, Any]], new: list[dict[str, Any]], ordered: bool) -> list[Change]:
    changes: list[Change] = []
    old_by_id = {item["id"]: (i, item) for i, item in enumerate(old)}
    new_by_id = {item["id"]: (i, item) for i, item in enumerate(new)}
    for key, (i, _item) in old_by_id.items():
        if key not in new_by_id:
            changes.append(Change(section, key, "removed", f"was #{i + 1}" if ordered else "removed"))
    for key, (j, item) in new_by_id.items():
        if key not in old_by_id:
            body = {k: v for k, v in item.items() if k != "id"}
            detail = f"new at #{j + 1}: {_fmt(body)}" if ordered else _fmt({k: v for k, v in body.items() if k != "examples"})
            changes.append(Change(section, key, "added", detail))
            continue
        i, before = old_by_id[key]
        fields = _field_changes(before, item)
        if fields:
            changes.append(Change(section, key, "changed", "; ".join(fields)))
        if ordered and _relative_order(old, new, key):
            changes.append(Change(section, key, "moved", f"#{i + 1} -> #{j + 1}"))
    return changes


def _relative_order(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> bool:
    """True when the rules kept in both policies that precede `key` are not the same ones."""
    common = {r["id"] for r in old} & {r["id"] for r in new}

    def before(rules: list[dict[str, Any]]) -> set[str]:
        ids = [r["id"] for r in rules if r["id"] in common]
        return set(ids[: ids.index(key)])

    return before(old) != before(new)


def _dump(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_defaults=True) for item in items]


def diff_policies(old: Policy, new: Policy) -> list[Change]:
    """Every difference that can change a routing decision or what the inventory says."""
    changes: list[Change] = []
    for section in ("version_label", "defaults", "classifier", "aliases"):
        before, after = old.model_dump()[section], new.model_dump()[section]
        if before == after:
            continue
        if isinstance(before, dict):
            for field in _field_changes(before, after):
                changes.append(Change(section, field.split(" ", 1)[0], "changed", field.split(" ", 1)[1]))
        else:
            changes.append(Change(section, "", "changed", f"{before} -> {after}"))
    changes += _keyed("use_case", _dump(old.use_cases), _dump(new.use_cases), ordered=False)
    changes += _keyed("rule", _dump(old.rules), _dump(new.rules), ordered=True)
    for tier in dict.fromkeys([*old.fallbacks, *new.fallbacks]):
        before, after = old.fallbacks.get(tier), new.fallbacks.get(tier)
        if before != after:
            changes.append(Change("fallbacks", tier, "changed", f"{_fmt(before or [])} -> {_fmt(after or [])}"))
    return changes
