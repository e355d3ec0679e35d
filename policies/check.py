"""Validate a policy file: YAML, schema, then meaning, each problem with its line number."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts.catalogue import Catalogue
from policies.messages import Message, say
from policies.schema import TIERS, WEEKDAYS, Conditions, Policy

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a policy file; `line` is 1-based, 0 when unknown."""

    line: int
    message: str
    path: str = ""
    severity: str = "error"

    def render(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        at = f" [{self.path}]" if self.path else ""
        return f"{where}: {self.severity}: {self.message}{at}"


@dataclass(slots=True)
class CheckReport:
    """The parsed policy when it is valid, and every issue found."""

    policy: Policy | None
    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.issues


def _line_map(text: str) -> dict[Path_, int]:
    """Map every YAML path (keys and list indexes) to the line where its value starts."""
    lines: dict[Path_, int] = {}

    def walk(node: yaml.Node, path: Path_) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


class _Locator:
    def __init__(self, text: str):
        self._lines = _line_map(text)

    def issue(self, path: Path_, message: str) -> Issue:
        probe = tuple(path)
        while probe and probe not in self._lines:
            probe = probe[:-1]
        return Issue(self._lines.get(probe, 0), message, ".".join(str(p) for p in path))


def check_text(text: str, catalogue: Catalogue) -> CheckReport:
    """Parse, validate and cross-check a policy given as YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return CheckReport(None, [Issue(mark.line + 1 if mark else 0, say("policy.check.yaml_invalid", detail=str(getattr(exc, 'problem', None) or exc)))])
    except ValueError as exc:  # a scalar YAML resolves but cannot build, such as the date 2026-13-45
        return CheckReport(None, [Issue(0, say("policy.check.yaml_value_invalid", detail=str(exc)))])
    where = _Locator(text)
    if not isinstance(data, dict):
        return CheckReport(None, [Issue(1, say("policy.check.not_a_mapping"))])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        issues = [where.issue(tuple(err["loc"]), schema_message(err)) for err in exc.errors()]
        return CheckReport(None, issues)
    issues = [where.issue(path, message) for path, message in semantic_errors(policy, catalogue)]
    warnings = [replace(where.issue(path, message), severity="warning") for path, message in example_warnings(policy)]
    return CheckReport(policy, sorted(issues, key=lambda i: i.line), sorted(warnings, key=lambda i: i.line))


_BOUNDS = {"greater_than_equal": ("policy.check.at_least", "ge"), "less_than_equal": ("policy.check.at_most", "le"),
           "greater_than": ("policy.check.above", "gt"), "less_than": ("policy.check.below", "lt")}


def schema_message(error: ErrorDetails) -> str:
    """A schema error as a check message the pages can translate (pydantic's own text otherwise)."""
    kind, context = error["type"], error.get("ctx") or {}
    raised = context.get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], Message):
        return raised.args[0]
    if kind == "missing":
        return say("policy.check.missing")
    if kind == "extra_forbidden":
        return say("policy.check.unknown_field")
    if kind == "literal_error":
        listed = str(context.get("expected", ""))  # pydantic's English list: "'a', 'b' or 'c'"
        return say("policy.check.not_one_of", expected=", ".join(re.findall(r"'([^']*)'", listed)) or listed)
    if kind in _BOUNDS:
        key, bound = _BOUNDS[kind]
        return say(key, limit=context.get(bound, ""))
    return say("policy.check.invalid_value", detail=error["msg"].removeprefix("Value error, "))


#: Fewer examples than this per use case and the classifier learns little from them.
MIN_EXAMPLES = 10


def example_warnings(policy: Policy) -> Iterator[tuple[Path_, str]]:
    """Use cases whose examples are too few, or all one-liners unlike what employees paste."""
    for i, uc in enumerate(policy.use_cases):
        if not uc.examples:
            continue
        if len(uc.examples) < MIN_EXAMPLES:
            yield ("use_cases", i, "examples"), (
                say("policy.check.few_examples", use_case=uc.id, count=len(uc.examples), minimum=MIN_EXAMPLES)
            )
        if all("\n" not in e.strip() for e in uc.examples):
            yield ("use_cases", i, "examples"), say("policy.check.one_line_examples", use_case=uc.id)


def semantic_errors(policy: Policy, catalogue: Catalogue) -> Iterator[tuple[Path_, str]]:
    """Cross-reference problems the schema alone cannot see."""
    yield from _use_case_errors(policy, catalogue)
    yield from _alias_errors(policy, catalogue)
    yield from _rule_errors(policy, catalogue)
    yield from _fallback_errors(policy, catalogue)
    try:
        ZoneInfo(policy.defaults.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield ("defaults", "timezone"), say("policy.check.tz_unknown", zone=policy.defaults.timezone)


def _use_case_errors(policy: Policy, catalogue: Catalogue) -> Iterator[tuple[Path_, str]]:
    seen: set[str] = set()
    for i, uc in enumerate(policy.use_cases):
        if uc.id in seen:
            yield ("use_cases", i, "id"), say("policy.check.use_case_duplicate", use_case=uc.id)
        seen.add(uc.id)
        if not uc.examples:
            yield ("use_cases", i), say("policy.check.use_case_no_examples", use_case=uc.id)
        if not catalogue.in_tier(uc.tier):
            yield ("use_cases", i, "tier"), say("policy.check.tier_empty", tier=uc.tier)
        for j, name in enumerate(uc.allowed_models):
            if name not in catalogue:
                yield ("use_cases", i, "allowed_models", j), say("policy.check.model_unknown", model=name)
    fallback = policy.classifier.default_use_case
    if fallback is not None and policy.use_case(fallback) is None:
        yield ("classifier", "default_use_case"), say("policy.check.default_use_case_undeclared", use_case=fallback)
    general = policy.use_case(policy.defaults.general_use_case)
    if general is None:
        yield ("defaults", "general_use_case"), say("policy.check.general_undeclared", use_case=policy.defaults.general_use_case)
    elif general.status not in ("active", "pilot"):
        yield ("defaults", "general_use_case"), say("policy.check.general_inactive", use_case=general.id, state=general.status)


def _alias_errors(policy: Policy, catalogue: Catalogue) -> Iterator[tuple[Path_, str]]:
    for alias, target in policy.aliases.items():
        if alias in catalogue or alias == "auto":
            yield ("aliases", alias), say("policy.check.alias_hides_model", alias=alias)
        if target != "auto" and target not in TIERS and target not in catalogue:
            yield ("aliases", alias), say("policy.check.alias_unknown_model", alias=alias, model=target)


def _rule_errors(policy: Policy, catalogue: Catalogue) -> Iterator[tuple[Path_, str]]:
    use_case_ids = {uc.id for uc in policy.use_cases}
    callable_names = {"auto", *policy.aliases, *(m.name for m in catalogue.all())}
    seen: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.id in seen:
            yield ("rules", i, "id"), say("policy.check.rule_duplicate", rule=rule.id)
        seen.setdefault(rule.id, i)
        for j, uc in enumerate(rule.when.use_case or ()):
            if uc not in use_case_ids:
                yield ("rules", i, "when", "use_case", j), say("policy.check.rule_unknown_use_case", rule=rule.id, use_case=uc)
        for j, name in enumerate(rule.when.requested_model or ()):
            if name not in callable_names:
                yield ("rules", i, "when", "requested_model", j), say("policy.check.rule_unknown_model", rule=rule.id, model=name)
        if rule.route and rule.route.model and rule.route.model not in catalogue:
            yield ("rules", i, "route", "model"), say("policy.check.rule_routes_unknown_model", rule=rule.id, model=rule.route.model)
        if rule.route and rule.route.tier and not catalogue.in_tier(rule.route.tier):
            yield ("rules", i, "route", "tier"), say("policy.check.rule_routes_empty_tier", rule=rule.id, tier=rule.route.tier)
        if rule.when.time and not _minutes(rule.when):
            yield ("rules", i, "when", "time"), say("policy.check.rule_empty_window", rule=rule.id)
        for k, earlier in enumerate(policy.rules[:i]):
            if covers(earlier.when, rule.when):
                yield (
                    ("rules", i),
                    say("policy.check.rule_unreachable", rule=rule.id, earlier=earlier.id, position=k + 1),
                )
                break


def _fallback_errors(policy: Policy, catalogue: Catalogue) -> Iterator[tuple[Path_, str]]:
    for tier, chain in policy.fallbacks.items():
        for j, entry in enumerate(chain):
            if entry.startswith("tier:"):
                if entry[5:] not in TIERS:
                    yield ("fallbacks", tier, j), say("policy.check.tier_unknown", tier=entry[5:])
            elif entry not in catalogue:
                yield ("fallbacks", tier, j), say("policy.check.model_unknown", model=entry)
    cycle = fallback_cycle(policy)
    if cycle:
        yield ("fallbacks", cycle[0]), say("policy.check.fallback_cycle", cycle=" -> ".join(cycle))


def fallback_cycle(policy: Policy) -> list[str]:
    """A cycle of tier references in the fallback chains (e.g. small -> medium -> small), or []."""
    edges: dict[str, list[str]] = {
        tier: [e[5:] for e in chain if e.startswith("tier:") and e[5:] in TIERS]
        for tier, chain in policy.fallbacks.items()
    }
    state: dict[str, int] = {}

    def visit(tier: str, trail: list[str]) -> list[str]:
        state[tier] = 1
        for nxt in edges.get(tier, []):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt] if nxt in trail else [tier, nxt]
            if state.get(nxt) is None:
                found = visit(nxt, [*trail, nxt])
                if found:
                    return found
        state[tier] = 2
        return []

    for tier in edges:
        if state.get(tier) is None:
            found = visit(tier, [tier])
            if found:
                return found
    return []


def _minutes(when: Conditions) -> frozenset[tuple[int, int]]:
    """The (weekday, minute) pairs a condition's time window admits."""
    if when.time is None:
        return frozenset((d, m) for d in range(7) for m in range(1440))
    after, before = when.time.minutes()
    days = [WEEKDAYS.index(d) for d in when.time.weekdays] if when.time.weekdays else range(7)
    if after < before:
        span: range | list[int] = range(after, before)
    elif after == before:
        span = range(0)
    else:
        span = [*range(after, 1440), *range(0, before)]
    return frozenset((d, m) for d in days for m in span)


def covers(earlier: Conditions, later: Conditions) -> bool:
    """True when every request matching `later` also matches `earlier`."""
    for name in ("use_case", "department", "role", "requested_model"):
        wide, narrow = getattr(earlier, name), getattr(later, name)
        if wide is not None and (narrow is None or not set(narrow) <= set(wide)):
            return False
    if (earlier.min_prompt_tokens or 0) > (later.min_prompt_tokens or 0):
        return False
    if earlier.max_prompt_tokens is not None and (
        later.max_prompt_tokens is None or later.max_prompt_tokens > earlier.max_prompt_tokens
    ):
        return False
    if earlier.time is not None and not _minutes(later) <= _minutes(earlier):
        return False
    return True

