"""How old a value may get before it is stale, per group of fields.

Data ages: an income from three years ago is no basis for advice. These are the defaults from
advisory practice; the enrichment step makes them configurable per firm.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class FieldGroup:
    key: str
    label: str
    max_age_days: int
    fields: frozenset[str]  # "Model.field" names


FIELD_GROUPS = [
    FieldGroup(
        "contact",
        _("Contact details"),
        730,
        frozenset(
            f"Client.{name}"
            for name in (
                "email",
                "phone",
                "street",
                "house_number",
                "house_number_suffix",
                "postcode",
                "city",
            )
        ),
    ),
    FieldGroup(
        "income",
        _("Income and employment"),
        365,
        frozenset(
            {
                "Income.gross_annual_amount",
                "Income.kind",
                "Employment.kind",
                "Employment.employer",
                "Employment.job_title",
            }
        ),
    ),
    FieldGroup(
        "property_value",
        _("Property value"),
        730,
        frozenset({"Property.market_value", "Property.woz_value", "Property.rebuild_value"}),
    ),
    FieldGroup(
        "household",
        _("Household"),
        1095,
        frozenset(
            {
                "Client.marital_status",
                "FamilyMember.relation",
                "FamilyMember.first_name",
                "FamilyMember.birth_date",
            }
        ),
    ),
    FieldGroup(
        "pension",
        _("Pension"),
        365,
        frozenset({"Pension.accrued_annual_pension", "Pension.projected_annual_pension"}),
    ),
]

# Everything else from a source is product data, checked yearly at the review meeting.
DEFAULT_MAX_AGE_DAYS = 365 * 2

_MAX_AGE_BY_FIELD = {field: group.max_age_days for group in FIELD_GROUPS for field in group.fields}


def max_age_days(model_name: str, field_name: str) -> int:
    return _MAX_AGE_BY_FIELD.get(f"{model_name}.{field_name}", DEFAULT_MAX_AGE_DAYS)
