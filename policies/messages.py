"""The policy check's messages: English text by catalogue key, and the `Message` that carries both.

A message is a `str` (its English text, for the CLI, logs and the JSON API) that also
keeps its catalogue key and parameters, so the pages can say it in the reader's
language (`gateway/i18n/fr.yaml` holds the French; the English catalogue takes these).
"""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    "policy.check.tz_unknown": "unknown time zone '{zone}'",
    "policy.check.use_case_duplicate": "duplicate use case id '{use_case}'",
    "policy.check.use_case_no_examples": "use case '{use_case}' has no example prompts",
    "policy.check.tier_empty": "no model of tier '{tier}' in the catalogue",
    "policy.check.model_unknown": "unknown model '{model}'",
    "policy.check.default_use_case_undeclared": "low-confidence default use case '{use_case}' is not declared",
    "policy.check.general_undeclared": "general use case '{use_case}' is not declared",
    "policy.check.general_inactive": "general use case '{use_case}' is {state}",
    "policy.check.alias_hides_model": "alias '{alias}' hides a model of the same name",
    "policy.check.alias_unknown_model": "alias '{alias}' maps to unknown model '{model}'",
    "policy.check.rule_duplicate": "duplicate rule id '{rule}'",
    "policy.check.rule_unknown_use_case": "rule '{rule}' names unknown use case '{use_case}'",
    "policy.check.rule_unknown_model": "rule '{rule}' names unknown model '{model}'",
    "policy.check.rule_routes_unknown_model": "rule '{rule}' routes to unknown model '{model}'",
    "policy.check.rule_routes_empty_tier": "rule '{rule}' routes to tier '{tier}', which has no model",
    "policy.check.rule_empty_window": "rule '{rule}' has an empty time window",
    "policy.check.rule_unreachable": "rule '{rule}' is unreachable: rule '{earlier}' (rule #{position}) matches every request it matches",
    "policy.check.tier_unknown": "unknown tier '{tier}'",
    "policy.check.fallback_cycle": 'cycle in fallbacks: {cycle}',
    "policy.check.few_examples": "use case '{use_case}' has {count} example prompts; give at least {minimum}",
    "policy.check.yaml_invalid": 'invalid YAML: {detail}',
    "policy.check.yaml_value_invalid": 'invalid YAML value: {detail}',
    "policy.check.not_a_mapping": 'a policy is a YAML mapping',
    "policy.check.one_line_examples": (
        "use case '{use_case}' has only one-line examples; add some as employees send them "
        "(an instruction with pasted text, several paragraphs)"
    ),
    "policy.check.clock_format": "expected HH:MM (00:00 to 24:00)",
    "policy.check.prompt_tokens_order": "min_prompt_tokens is larger than max_prompt_tokens",
    "policy.check.route_target": "route needs exactly one of 'tier' or 'model'",
    "policy.check.deny_alone": "a 'deny' rule cannot also route, cap or allow_explicit",
    "policy.check.rule_action": "a rule needs an action: route, deny, cap or allow_explicit",
    "policy.check.missing": "this field is required",
    "policy.check.unknown_field": "unknown field",
    "policy.check.not_one_of": "must be one of {expected}",
    "policy.check.at_least": "must be at least {limit}",
    "policy.check.at_most": "must be at most {limit}",
    "policy.check.above": "must be greater than {limit}",
    "policy.check.below": "must be less than {limit}",
    "policy.check.invalid_value": "{detail}",
}


class Message(str):
    """English text of one check message, with its catalogue `key` and `params`."""

    key: str
    params: dict[str, object]

    def __new__(cls, key: str, **params: object) -> Message:
        message = super().__new__(cls, ENGLISH[key].format(**params))
        message.key, message.params = key, params
        return message


def say(key: str, **params: object) -> Message:
    """The message `key` with its parameters filled in."""
    return Message(key, **params)
