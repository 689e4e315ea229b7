"""The fields of the unified client view a source may write, by name ("client.email").

A target names an entity (the client, or one of its sync slots: income, property, mortgage...) and
a model field. The sync engine reads values by target, applies precedence per target and writes
each entity in bulk.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from clients import models as client_models


@dataclass(frozen=True)
class Entity:
    key: str
    model: type
    parent: str  # "client" for client-owned rows; "mortgage" for loan parts
    defaults: dict  # values a new row needs when no source gave them
    label: str


ENTITIES = {
    "client": Entity("client", client_models.Client, "", {}, _("Client")),
    "employment": Entity(
        "employment",
        client_models.Employment,
        "client",
        {"kind": client_models.Employment.Kind.EMPLOYED},
        _("Employment"),
    ),
    "income": Entity(
        "income",
        client_models.Income,
        "client",
        {"kind": client_models.Income.Kind.SALARY},
        _("Income"),
    ),
    "property": Entity("property", client_models.Property, "client", {}, _("Property")),
    "mortgage": Entity("mortgage", client_models.Mortgage, "client", {"lender": ""}, _("Mortgage")),
    "loan_part": Entity("loan_part", client_models.LoanPart, "mortgage", {}, _("Loan part")),
    "policy": Entity("policy", client_models.InsurancePolicy, "client", {"premium": Decimal(0)}, _("Insurance policy")),
    "pension": Entity(
        "pension",
        client_models.Pension,
        "client",
        {"kind": client_models.Pension.Kind.EMPLOYER},
        _("Pension"),
    ),
}

# Entities whose rows are only written when one of these targets has a value (a policy without a
# kind or an income without an amount means nothing).
ENTITY_REQUIRES = {
    "income": {"income.gross_annual_amount"},
    "policy": {"policy.kind"},
    "pension": {"pension.provider"},
    "employment": {"employment.employer", "employment.kind", "employment.job_title"},
}

_FIELDS = {
    "client": [
        "first_name",
        "initials",
        "last_name_prefix",
        "last_name",
        "birth_date",
        "gender",
        "education_level",
        "marital_status",
        "bsn",
        "email",
        "phone",
        "street",
        "house_number",
        "house_number_suffix",
        "postcode",
        "city",
        "segment",
        "client_since",
    ],
    "employment": ["kind", "employer", "job_title", "start_date", "end_date", "permanent_contract"],
    "income": ["kind", "gross_annual_amount"],
    "property": [
        "kind",
        "street",
        "house_number",
        "postcode",
        "city",
        "market_value",
        "market_value_date",
        "woz_value",
        "woz_year",
        "rebuild_value",
    ],
    "mortgage": ["lender", "loan_number", "start_date", "nhg"],
    "loan_part": [
        "repayment_type",
        "principal",
        "outstanding_balance",
        "interest_rate",
        "fixed_rate_end_date",
        "end_date",
    ],
    "policy": ["kind", "insurer", "policy_number", "insured_amount", "premium", "start_date", "end_date"],
    "pension": ["kind", "provider", "accrued_annual_pension", "projected_annual_pension", "retirement_date"],
}

# Targets that decide who a record is; never written by a grey-zone match before review.
IDENTITY_TARGETS = {
    "client.first_name",
    "client.last_name",
    "client.birth_date",
    "client.email",
    "client.bsn",
}

TARGETS: dict[str, tuple[Entity, str]] = {
    f"{entity}.{field}": (ENTITIES[entity], field) for entity, fields in _FIELDS.items() for field in fields
}


def target_choices() -> list[tuple[str, str]]:
    return [(name, target_label(name)) for name in TARGETS]


def target_label(target: str) -> str:
    """'income.gross_annual_amount' -> 'Income: gross per year'."""
    if target not in TARGETS:
        return target
    entity, field = TARGETS[target]
    return f"{entity.label}: {entity.model._meta.get_field(field).verbose_name}"


def model_field(target: str):
    entity, field = TARGETS[target]
    return entity.model._meta.get_field(field)
