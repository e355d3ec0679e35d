"""Routing engine: resolve the use case, apply the first matching rule, pick the model.

A policy is validated and compiled once (frozensets, resolved models, trained
classifier) into an immutable `_Compiled` snapshot; `decide` only reads it, and a
reload swaps the snapshot in one assignment, so a bad policy is never half-loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from contracts.catalogue import Catalogue, ModelSpec
from policies.check import CheckReport, Issue, check_text
from policies.classifier import Prediction, UseCaseClassifier
from policies.decision import PolicyDenied, RoutingDecision, RoutingRequest, UnknownModel
from policies.schema import TIER_RANK, TIERS, WEEKDAYS, Policy, Rule, UseCase
from policies.task_prior import TaskPrior, shipped_prior

DEFAULT_POLICY = Path(__file__).with_name("default_policy.yaml")
ACTIVE = ("active", "pilot")
#: The task prior a policy is compiled with: the shipped one, another (an evaluation's), or none.
PriorChoice = TaskPrior | None | Literal["shipped"]


class PolicyError(ValueError):
    """A policy that failed validation; `issues` carry line numbers."""

    def __init__(self, issues: list[Issue], source: str = "policy"):
        self.issues = issues
        self.source = source
        super().__init__("; ".join(issue.render(source) for issue in issues) or "invalid policy")


def content_version(text: str) -> str:
    """The version of a policy: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class _Rule:
    rule: Rule
    use_cases: frozenset[str] | None
    departments: frozenset[str] | None
    roles: frozenset[str] | None
    models: frozenset[str] | None
    min_tokens: int
    max_tokens: int | None
    window: tuple[int, int, frozenset[int]] | None
    route: ModelSpec | None

    def matches(self, use_case: str, request: RoutingRequest, local_now: datetime | None) -> bool:
        if self.use_cases is not None and use_case not in self.use_cases:
            return False
        if self.departments is not None and request.department not in self.departments:
            return False
        if self.roles is not None and self.roles.isdisjoint(request.roles):
            return False
        if self.models is not None and request.requested_model not in self.models:
            return False
        if request.prompt_tokens < self.min_tokens:
            return False
        if self.max_tokens is not None and request.prompt_tokens > self.max_tokens:
            return False
        if self.window is not None and local_now is not None:
            after, before, days = self.window
            if local_now.weekday() not in days:
                return False
            minute = local_now.hour * 60 + local_now.minute
            inside = after <= minute < before if after < before else (minute >= after or minute < before)
            if not inside:
                return False
        return True


@dataclass(frozen=True, slots=True)
class _UseCase:
    spec: UseCase
    default_model: ModelSpec
    explicit_models: frozenset[str]
    on_disallowed: str


@dataclass(frozen=True, slots=True)
class _Resolved:
    """The use case a request is served under, and what the classifier said about it."""

    use_case: _UseCase
    why: str
    prediction: Prediction | None = None
    low_confidence: bool = False
    model: ModelSpec | None = None  # set when low confidence routes to a tier, not to the use case's own


@dataclass(frozen=True, slots=True)
class _Compiled:
    policy: Policy
    text: str
    version: str
    source: str
    loaded_at: datetime
    use_cases: dict[str, _UseCase]
    general: _UseCase
    rules: tuple[_Rule, ...]
    aliases: dict[str, ModelSpec | None]
    fallbacks: dict[str, tuple[str, ...]]
    tz: ZoneInfo
    uses_time: bool
    classifier: UseCaseClassifier


def _expand_chain(policy: Policy, tier: str, trail: tuple[str, ...] = ()) -> list[str]:
    names: list[str] = []
    for entry in policy.fallbacks.get(tier, []):  # type: ignore[call-overload]
        if entry.startswith("tier:"):
            if entry[5:] not in trail:
                names.extend(_expand_chain(policy, entry[5:], (*trail, tier)))
        else:
            names.append(entry)
    return list(dict.fromkeys(names))


def compile_policy(
    policy: Policy, text: str, catalogue: Catalogue, source: str, task_prior: PriorChoice = "shipped"
) -> _Compiled:
    """Resolve names and precompute everything `decide` needs (policy already checked).

    The classifier gets `task_prior` (the shipped prior by default) unless the policy
    turns the prior off (`classifier.task_prior: false`)."""
    use_cases: dict[str, _UseCase] = {}
    for uc in policy.use_cases:
        tiers = uc.explicit_tiers()
        explicit = {m.name for m in catalogue.all() if m.tier in tiers} | set(uc.allowed_models)
        use_cases[uc.id] = _UseCase(
            uc,
            catalogue.preferred(uc.tier),
            frozenset(explicit),
            uc.on_disallowed_model or policy.defaults.on_disallowed_model,
        )
    rules = []
    for rule in policy.rules:
        when = rule.when
        window = None
        if when.time is not None:
            after, before = when.time.minutes()
            days = when.time.weekdays or WEEKDAYS
            window = (after, before, frozenset(WEEKDAYS.index(d) for d in days))
        route = None
        if rule.route is not None:
            route = catalogue.get(rule.route.model) if rule.route.model else catalogue.preferred(rule.route.tier or "")
        rules.append(
            _Rule(
                rule,
                frozenset(when.use_case) if when.use_case is not None else None,
                frozenset(when.department) if when.department is not None else None,
                frozenset(when.role) if when.role is not None else None,
                frozenset(when.requested_model) if when.requested_model is not None else None,
                when.min_prompt_tokens or 0,
                when.max_prompt_tokens,
                window,
                route,
            )
        )
    aliases: dict[str, ModelSpec | None] = {}
    for alias, target in policy.aliases.items():
        aliases[alias] = None if target == "auto" else (
            catalogue.preferred(target) if target in TIERS else catalogue.get(target)
        )
    fallbacks: dict[str, tuple[str, ...]] = {}
    for spec in catalogue.all():
        chain = _expand_chain(policy, spec.tier) if spec.tier in policy.fallbacks else catalogue.fallbacks.get(spec.name, [])
        fallbacks[spec.name] = tuple(n for n in chain if n != spec.name and n in catalogue)
    active = [uc for uc in policy.use_cases if uc.status in ACTIVE]
    general = use_cases[policy.defaults.general_use_case]
    return _Compiled(
        policy=policy,
        text=text,
        version=content_version(text),
        source=source,
        loaded_at=datetime.now(timezone.utc),
        use_cases=use_cases,
        general=general,
        rules=tuple(rules),
        aliases=aliases,
        fallbacks=fallbacks,
        tz=ZoneInfo(policy.defaults.timezone),
        uses_time=any(r.window is not None for r in rules),
        classifier=_classifier({uc.id: uc.examples for uc in active}, policy, task_prior),
    )


def _classifier(examples: dict[str, list[str]], policy: Policy, task_prior: PriorChoice) -> UseCaseClassifier:
    if not policy.classifier.task_prior:
        return UseCaseClassifier(examples)
    return UseCaseClassifier(examples, prior=shipped_prior() if task_prior == "shipped" else task_prior)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """Outcome of a reload: `loaded` is False when the old policy stayed."""

    loaded: bool
    version: str
    previous_version: str
    issues: tuple[Issue, ...] = ()


class PolicyEngine:
    """Decides a `RoutingDecision` for each request under the current policy snapshot."""

    def __init__(
        self, compiled: _Compiled, catalogue: Catalogue, path: Path | None = None, task_prior: PriorChoice = "shipped"
    ):
        self.catalogue = catalogue
        self.path = path
        self.task_prior = task_prior
        self._state = compiled
        self._mtime = path.stat().st_mtime_ns if path else None

    @classmethod
    def load(cls, path: Path | None, catalogue: Catalogue, task_prior: PriorChoice = "shipped") -> "PolicyEngine":
        """Load a policy file (the shipped default when `path` is None); raise PolicyError if invalid."""
        file = Path(path) if path else DEFAULT_POLICY
        compiled = cls._compile(file.read_text(encoding="utf-8"), catalogue, str(file), task_prior)
        return cls(compiled, catalogue, file, task_prior)

    @classmethod
    def from_text(
        cls, text: str, catalogue: Catalogue, source: str = "<text>", task_prior: PriorChoice = "shipped"
    ) -> "PolicyEngine":
        """An engine for a policy text; `task_prior` replaces the shipped prior (None: no prior)."""
        return cls(cls._compile(text, catalogue, source, task_prior), catalogue, task_prior=task_prior)

    @staticmethod
    def _compile(text: str, catalogue: Catalogue, source: str, task_prior: PriorChoice = "shipped") -> _Compiled:
        report = check_text(text, catalogue)
        if not report.ok or report.policy is None:
            raise PolicyError(report.issues, source)
        return compile_policy(report.policy, text, catalogue, source, task_prior)

    @property
    def version(self) -> str:
        return self._state.version

    @property
    def policy(self) -> Policy:
        return self._state.policy

    @property
    def text(self) -> str:
        return self._state.text

    @property
    def source(self) -> str:
        return self._state.source

    @property
    def loaded_at(self) -> datetime:
        return self._state.loaded_at

    @property
    def use_cases(self) -> dict[str, UseCase]:
        return {uc_id: uc.spec for uc_id, uc in self._state.use_cases.items()}

    @property
    def classifier(self) -> UseCaseClassifier:
        return self._state.classifier

    def check(self, text: str) -> CheckReport:
        """Validate a candidate policy against this engine's catalogue, without loading it."""
        return check_text(text, self.catalogue)

    def reload_text(self, text: str, source: str = "admin") -> ReloadResult:
        """Validate then swap in a new policy; on error the current one stays."""
        previous = self._state.version
        try:
            compiled = self._compile(text, self.catalogue, source, self.task_prior)
        except PolicyError as exc:
            return ReloadResult(False, previous, previous, tuple(exc.issues))
        self._state = compiled
        return ReloadResult(True, compiled.version, previous)

    def reload(self) -> ReloadResult:
        """Re-read the policy file."""
        file = self.path or DEFAULT_POLICY
        result = self.reload_text(file.read_text(encoding="utf-8"), str(file))
        self._mtime = file.stat().st_mtime_ns
        return result

    def reload_if_changed(self) -> ReloadResult | None:
        """Reload when the policy file's modification time changed; None when it did not."""
        if self.path is None or self.path.stat().st_mtime_ns == self._mtime:
            return None
        return self.reload()

    def decide(self, request: RoutingRequest) -> RoutingDecision:
        """The model for this request, or PolicyDenied (403, or 404 for an unknown model)."""
        state = self._state
        resolved = self._use_case(state, request)
        use_case, why = resolved.use_case, resolved.why
        spec = use_case.spec
        if spec.status not in ACTIVE:
            raise PolicyDenied(f"use case {spec.id!r} is {spec.status}", code="use_case_denied")
        explicit = self._explicit_model(state, request.requested_model)
        local_now = self._local_now(state, request.now) if state.uses_time else None
        matched = next((r for r in state.rules if r.matches(spec.id, request, local_now)), None)
        rule = matched.rule if matched else None
        if rule is not None and rule.deny is not None:
            raise PolicyDenied(rule.deny.message, code="policy_denied", rule_id=rule.id)
        routed = matched.route if matched and matched.route else (resolved.model or use_case.default_model)
        if explicit is None:
            model, rule_id = routed, rule.id if rule else "use-case-tier"
            why += f"; routed to {model.name}" + (f" by rule {rule.id!r}" if rule else f" (tier {spec.tier})")
        elif explicit.name in use_case.explicit_models or (rule is not None and rule.allow_explicit):
            model, rule_id = explicit, rule.id if rule else "explicit-model"
            why += f"; the caller named {explicit.name}, allowed for this use case"
        elif use_case.on_disallowed == "refuse":
            raise PolicyDenied(
                f"model {request.requested_model!r} is not allowed for use case {spec.id!r}; "
                f"use 'auto' or a model of tier {', '.join(sorted(spec.explicit_tiers()))}",
                code="policy_denied",
                rule_id=rule.id if rule else "explicit-model",
            )
        else:
            model, rule_id = routed, rule.id if rule else "explicit-model-downgrade"
            why += (
                f"; {request.requested_model} is not allowed for use case {spec.id!r}, "
                f"routed down to {routed.name}"
            )
        caps = [c for c in (spec.max_tokens, rule.cap if rule else None) if c is not None]
        prediction = resolved.prediction
        runner_up = prediction.runner_up if prediction else None
        return RoutingDecision(
            model=model.name,
            use_case=spec.id,
            rule_id=rule_id,
            policy_version=state.version,
            reason=why,
            classifier_confidence=prediction.confidence if prediction else None,
            classifier_runner_up=runner_up[0] if runner_up else None,
            classifier_runner_up_confidence=runner_up[1] if runner_up else None,
            low_confidence=resolved.low_confidence,
            max_tokens_cap=min(caps) if caps else None,
            fallbacks=state.fallbacks.get(model.name, ()),
        )

    def _use_case(self, state: _Compiled, request: RoutingRequest) -> _Resolved:
        if request.use_case is not None:
            found = state.use_cases.get(request.use_case)
            if found is not None:
                return _Resolved(found, f"use case {found.spec.id!r} given by the caller")
            if state.policy.defaults.unknown_use_case == "general":
                return _Resolved(state.general, f"unknown use case {request.use_case!r}, treated as general")
            raise PolicyDenied(f"unknown use case {request.use_case!r}", code="use_case_unknown")
        if not request.prompt_text.strip():
            return _Resolved(state.general, "no prompt to classify: general use case")
        prediction = state.classifier.predict(request.prompt_text)
        threshold = state.policy.classifier.threshold
        if prediction.confidence >= threshold and prediction.label in state.use_cases:
            return _Resolved(
                state.use_cases[prediction.label],
                f"classified as {prediction.label!r} (confidence {prediction.confidence:.2f})",
                prediction,
            )
        return self._uncertain(state, prediction, threshold)

    def _uncertain(self, state: _Compiled, prediction: Prediction, threshold: float) -> _Resolved:
        """The policy's decision for a prediction under the threshold (`classifier.low_confidence`)."""
        settings = state.policy.classifier
        unsure = f"classifier unsure ({prediction.label} at {prediction.confidence:.2f} < {threshold:.2f})"
        top = [(label, p) for label, p in prediction.ranked() if label in state.use_cases][: settings.top_candidates]
        if settings.low_confidence == "default" or not top:
            default = state.use_cases.get(settings.default_use_case or "", state.general)
            return _Resolved(default, f"{unsure}: default use case {default.spec.id!r}", prediction, True)
        if settings.low_confidence == "smallest_of_top":
            label = min(top, key=lambda lp: (TIER_RANK[state.use_cases[lp[0]].spec.tier], -lp[1]))[0]
            names = ", ".join(name for name, _ in top)
            return _Resolved(
                state.use_cases[label], f"{unsure}: smallest tier among {names}: {label!r}", prediction, True
            )
        weight = sum(p for _, p in top)
        rank = sum(TIER_RANK[state.use_cases[label].spec.tier] * p for label, p in top) / weight
        tier = TIERS[min(len(TIERS) - 1, int(rank + 0.5))]
        model = self.catalogue.preferred(tier) if self.catalogue.in_tier(tier) else None
        best = state.use_cases[top[0][0]]
        return _Resolved(
            best, f"{unsure}: tier {tier} weighted over {', '.join(n for n, _ in top)}; use case {best.spec.id!r}",
            prediction, True, model,
        )

    def _explicit_model(self, state: _Compiled, name: str) -> ModelSpec | None:
        if name == "auto":
            return None
        if name in state.aliases:
            return state.aliases[name]
        spec = self.catalogue.get(name)
        if spec is None:
            raise UnknownModel(f"unknown model {name!r}", code="model_not_found")
        return spec

    @staticmethod
    def _local_now(state: _Compiled, now: datetime) -> datetime:
        return now.astimezone(state.tz) if now.tzinfo else now
