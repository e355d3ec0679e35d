"""The use-case form: which register fields the page shows, how a posted form becomes a record.

One table of fields (section.name, kind, choices) drives both the template and the
parsing, so a field added to the register is added here once. Validation stays in
the register's pydantic model; its errors come back as the fields' own labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.inventory.model import UseCaseRecord


@dataclass(frozen=True, slots=True)
class FormField:
    """One input: `path` is section.name in the record; `kind` picks the widget and the parsing."""

    path: str
    kind: str = "text"
    choices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.replace(".", "__")

    @property
    def label_key(self) -> str:
        return f"register.field.{self.path}"


SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    ("identity", (
        FormField("identity.name"), FormField("identity.summary", "textarea"), FormField("identity.owner"),
        FormField("identity.department"), FormField("identity.contact"),
        FormField("identity.ai_act_role", "choice", ("deployer", "provider")),
        FormField("identity.stage", "choice", ("idea", "pilot", "production")),
        FormField("identity.operational_date", "date"),
    )),
    ("purpose", (
        FormField("purpose.problem", "textarea"), FormField("purpose.expected_benefit", "textarea"),
        FormField("purpose.users"), FormField("purpose.affected_persons"),
        FormField("purpose.why_generative_ai", "textarea"), FormField("purpose.out_of_scope", "lines"),
        FormField("purpose.prohibited_uses", "lines"),
    )),
    ("risk", (
        FormField("risk.tier", "choice", ("individual", "standard_low_risk")),
        FormField("risk.article_6_3_justification", "textarea"),
    )),
    ("data", (
        FormField("data.input_classification", "choice", ("public", "internal", "confidential", "secret")),
        FormField("data.personal_data", "bool"), FormField("data.special_category_data", "bool"),
        FormField("data.dpia_reference"), FormField("data.processing_record_reference"),
        FormField("data.fria_reference"), FormField("data.prompt_retention_days", "int"),
        FormField("data.metadata_retention_days", "int"),
    )),
    ("models", (
        FormField("models.allowed_models", "lines"), FormField("models.budget_eur_month", "number"),
        FormField("models.budget_gco2e_kg_month", "number"),
    )),
    ("oversight", (
        FormField("oversight.human_review", "choice", ("none", "spot_check", "every_output", "human_decides")),
        FormField("oversight.user_notice", "textarea"), FormField("oversight.works_council_reference"),
    )),
)
FIELDS: dict[str, FormField] = {f.path: f for _, fields in SECTIONS for f in fields}
OPTIONAL_TEXT = frozenset({"data.dpia_reference", "data.processing_record_reference", "data.fria_reference",
                           "oversight.works_council_reference"})


def values_of(record: UseCaseRecord | None) -> dict[str, Any]:
    """The current value of every field, as the form shows it."""
    document = record.model_dump(mode="json") if record else {}
    out: dict[str, Any] = {}
    for path, spec in FIELDS.items():
        section, name = path.split(".")
        value = (document.get(section) or {}).get(name)
        if spec.kind == "lines":
            out[path] = "\n".join(value or [])
        elif spec.kind == "bool":
            out[path] = bool(value)
        else:
            out[path] = "" if value is None else value
    return out


def _parsed(spec: FormField, raw: str | None) -> Any:
    text = (raw or "").strip()
    if spec.kind == "bool":
        return raw is not None
    if spec.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if spec.kind in {"date", "int", "number"} or spec.path in OPTIONAL_TEXT:
        return text or None
    return text


def record_from_form(form: dict[str, str], use_case_id: str, base: UseCaseRecord | None) -> UseCaseRecord:
    """A record from the posted form over `base` (lifecycle and classification kept as they are).

    A field the form did not send, or an empty count or choice, keeps its current
    (or default) value; an unticked box is False.

    Raises `FormErrors` naming each invalid field by its path."""
    document = base.model_dump(mode="json") if base else {}
    document["id"] = use_case_id
    for path, spec in FIELDS.items():
        section, name = path.split(".")
        raw = form.get(spec.name)
        if spec.kind != "bool" and (raw is None or (spec.kind in {"int", "choice"} and not raw.strip())):
            continue
        value = _parsed(spec, raw)
        if spec.kind == "number" and value is not None:
            value = value.replace(",", ".").replace("\u202f", "").replace(" ", "")
        document.setdefault(section, {})[name] = value
    try:
        return UseCaseRecord.model_validate(document)
    except ValidationError as error:
        raise FormErrors(sorted({_path(e["loc"]) for e in error.errors()})) from None


def _path(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if not isinstance(p, int)]
    return ".".join(parts[:2]) if parts else "id"


class FormErrors(Exception):
    """The fields (by path) whose values the register refused."""

    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = paths
