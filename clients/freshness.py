"""How old a value may get before it is stale, per group of fields.

Data ages: an income from three years ago is no basis for advice. These are the defaults from
advisory practice; the enrichment step makes them configurable per firm.
"""

from collections.abc import Callable, Mapping
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

_GROUP_BY_FIELD = {field: group for group in FIELD_GROUPS for field in group.fields}

# The firm's own maximum ages ({group key: days}) come from a later step (enrichment's admin-edited
# FreshnessPolicy). This app must not import that step, so the step registers a loader here when it
# starts; without one, the defaults above apply.
_overrides_loader: Callable[[], Mapping[str, int]] | None = None


def max_age_overrides_register(loader: Callable[[], Mapping[str, int]] | None) -> None:
    global _overrides_loader
    _overrides_loader = loader


def max_age_overrides() -> dict[str, int]:
    """The firm's maximum ages by group key; read once per page, not once per value."""
    return dict(_overrides_loader()) if _overrides_loader else {}


def max_age_days(model_name: str, field_name: str, overrides: Mapping[str, int] | None = None) -> int:
    group = _GROUP_BY_FIELD.get(f"{model_name}.{field_name}")
    if group is None:
        return DEFAULT_MAX_AGE_DAYS
    return (overrides or {}).get(group.key, group.max_age_days)
