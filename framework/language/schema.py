"""The names a rule may read: a whitelist, and nothing else exists for the language.

Three scopes of single values (`client.`, `facts.`, `property.`), collections of a client's rows
(`policies`, `loan_parts`, ...) with their fields, and `today`. Each entry says its type and, for
the ORM compiler, how to reach it from a Client row. Fields are listed by hand for the unified view
(a BSN or an e-mail body must never become readable by a rule); ClientFacts is the framework's
contract with enrichment, so all of its typed columns are offered as they are added.
"""

import enum
from dataclasses import dataclass, field
from functools import cache

from django.db import models


class Type(enum.Enum):
    NUMBER = "number"
    DATE = "date"
    TEXT = "text"
    BOOL = "yes/no"
    TEXT_LIST = "list of texts"
    NULL = "null"
    DURATION = "duration"
    COLLECTION = "collection"
    ROWS = "values of a collection"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: Type
    label: str = ""
    choices: tuple[str, ...] = ()
    # The model field the value is read from (differs for derived fields such as `occurred_on`).
    source_field: str = ""


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    label: str
    model: type[models.Model]
    fields: dict[str, FieldSpec]
    # How a row reaches its client, and what else makes a row current.
    client_path: str = "client"
    current: dict = field(default_factory=lambda: {"deleted_at__isnull": True})


@dataclass(frozen=True)
class Schema:
    scopes: dict[str, dict[str, FieldSpec]]
    collections: dict[str, CollectionSpec]


SCOPE_NAMES = ("client", "facts", "property")
FUNCTION_NAMES = (
    "count",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "coalesce",
    "abs",
    "days_between",
    "months_between",
    "years_between",
    "date",
)
KEYWORDS = ("and", "or", "not", "in", "is", "null", "true", "false", "today")
DURATION_UNITS = {
    "day": ("days", 1),
    "days": ("days", 1),
    "week": ("days", 7),
    "weeks": ("days", 7),
    "month": ("months", 1),
    "months": ("months", 1),
    "year": ("months", 12),
    "years": ("months", 12),
}

CLIENT_FIELDS = (
    "birth_date",
    "gender",
    "education_level",
    "marital_status",
    "segment",
    "client_since",
    "city",
    "postcode",
    "country",
    "email",
    "phone",
)
PROPERTY_FIELDS = (
    "kind",
    "is_primary_residence",
    "market_value",
    "market_value_date",
    "woz_value",
    "woz_year",
    "rebuild_value",
    "city",
)
COLLECTION_FIELDS = {
    "policies": (
        "InsurancePolicy",
        ("kind", "insurer", "insured_amount", "premium", "premium_frequency", "start_date", "end_date"),
    ),
    "loan_parts": (
        "LoanPart",
        (
            "part_number",
            "repayment_type",
            "principal",
            "outstanding_balance",
            "interest_rate",
            "fixed_rate_end_date",
            "end_date",
        ),
    ),
    "mortgages": ("Mortgage", ("lender", "start_date", "nhg")),
    "properties": ("Property", PROPERTY_FIELDS),
    "pensions": (
        "Pension",
        ("kind", "provider", "accrued_annual_pension", "projected_annual_pension", "retirement_date"),
    ),
    "incomes": ("Income", ("kind", "gross_annual_amount")),
    "employments": ("Employment", ("kind", "employer", "job_title", "start_date", "end_date", "permanent_contract")),
    "assets": ("Asset", ("kind", "institution", "balance", "balance_date")),
    "consumer_loans": ("ConsumerLoan", ("kind", "lender", "outstanding_balance", "monthly_payment", "end_date")),
    "complaints": ("Complaint", ("subject", "received_on", "status", "resolved_on")),
    "contact_moments": ("ContactMoment", ("channel", "direction", "subject")),
    "agreements": ("Agreement", ("description", "agreed_on", "due_date", "status")),
    "missed_payments": ("MissedPayment", ("product", "reference", "due_date", "amount", "paid_on")),
    "family_members": ("FamilyMember", ("relation", "birth_date", "lives_at_home")),
}
# ClientFacts columns that are bookkeeping, not facts.
FACTS_EXCLUDED = {"client", "unknown", "provenance", "computed_at"}
# JSON columns of ClientFacts that hold a list of keys.
FACTS_TEXT_LISTS = {"stale_field_groups"}


def _type_of(model_field: models.Field) -> Type | None:
    if isinstance(model_field, models.BooleanField):
        return Type.BOOL
    if isinstance(model_field, models.DecimalField | models.IntegerField | models.FloatField):
        return Type.NUMBER
    if isinstance(model_field, models.DateTimeField):
        return None  # instants are offered as dates where a rule needs them (occurred_on)
    if isinstance(model_field, models.DateField):
        return Type.DATE
    if isinstance(model_field, models.CharField | models.TextField):
        return Type.TEXT
    return None


def _spec(model, name: str) -> FieldSpec:
    model_field = model._meta.get_field(name)
    field_type = _type_of(model_field)
    if field_type is None:
        raise ValueError(f"{model.__name__}.{name} has no rule type")
    choices = tuple(str(value) for value, _label in model_field.choices or ())
    return FieldSpec(name, field_type, str(model_field.verbose_name), choices, name)


@cache
def schema() -> Schema:
    """The schema, built once from the models (so choices and new facts stay in step)."""
    from clients import models as client_models
    from enrichment.models import ClientFacts

    facts = {}
    for model_field in ClientFacts._meta.concrete_fields:
        if model_field.name in FACTS_EXCLUDED:
            continue
        if model_field.name in FACTS_TEXT_LISTS:
            facts[model_field.name] = FieldSpec(
                model_field.name, Type.TEXT_LIST, str(model_field.verbose_name), (), model_field.name
            )
            continue
        if _type_of(model_field) is not None:
            facts[model_field.name] = _spec(ClientFacts, model_field.name)

    collections = {}
    for name, (model_name, field_names) in COLLECTION_FIELDS.items():
        model = getattr(client_models, model_name)
        fields = {field_name: _spec(model, field_name) for field_name in field_names}
        extra = {}
        if name == "contact_moments":
            fields["occurred_on"] = FieldSpec("occurred_on", Type.DATE, "date of contact", (), "occurred_at")
        if name == "loan_parts":
            extra = {
                "client_path": "mortgage__client",
                "current": {"deleted_at__isnull": True, "mortgage__deleted_at__isnull": True},
            }
        if name == "family_members":
            extra = {"client_path": "household"}
        collections[name] = CollectionSpec(name, str(model._meta.verbose_name_plural), model, fields, **extra)

    return Schema(
        scopes={
            "client": {name: _spec(client_models.Client, name) for name in CLIENT_FIELDS},
            "facts": facts,
            "property": {name: _spec(client_models.Property, name) for name in PROPERTY_FIELDS},
        },
        collections=collections,
    )


def reserved_names() -> set[str]:
    """Names a parameter may not take: they already mean something."""
    return set(SCOPE_NAMES) | set(FUNCTION_NAMES) | set(KEYWORDS) | set(schema().collections)
