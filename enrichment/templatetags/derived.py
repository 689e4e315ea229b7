"""The 360° page's derived values (with "derived by X at T") and what the client told us."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import timesince
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from clients.freshness import FIELD_GROUPS
from clients.provenance import CLIENT
from clients.templatetags.steward import display_value, euro, percentage

from ..models import ClientFacts, HouseholdType
from ..providers import provider_by_key

register = template.Library()

# The derived values the page shows, in order, by section: (fact, label, how to show it).
SECTIONS = [
    (
        _("Person and household"),
        [
            ("age", _("Age"), "years"),
            ("state_pension_date", _("State pension (AOW) from"), "date"),
            ("household_type", _("Household"), "household"),
            ("has_partner", _("Partner"), "bool"),
            ("children_count", _("Children"), "count"),
            ("youngest_child_age", _("Youngest child"), "years"),
            ("has_dependants", _("Dependants"), "bool"),
        ],
    ),
    (
        _("Income and pension"),
        [
            ("gross_income", _("Gross income (work, benefits)"), "money"),
            ("projected_retirement_income", _("Projected retirement income"), "money"),
            ("replacement_ratio", _("Replacement ratio"), "ratio"),
        ],
    ),
    (
        _("Mortgage, home and cover"),
        [
            ("next_fixed_rate_end_date", _("Next fixed-rate end"), "date"),
            ("days_to_fixed_rate_end", _("Days to fixed-rate end"), "days"),
            ("mortgage_balance", _("Outstanding mortgage"), "money"),
            ("indexed_property_value", _("Indexed home value"), "money"),
            ("loan_to_value", _("Loan-to-value"), "ratio"),
            ("interest_only_past_state_pension", _("Interest-only past AOW"), "bool"),
            ("insured_to_rebuild_ratio", _("Home insured / rebuild value"), "ratio"),
            ("has_life_cover", _("Life cover"), "bool"),
        ],
    ),
    (
        _("Relationship and data"),
        [
            ("days_since_last_contact", _("Days since last contact"), "days"),
            ("open_complaints_over_30_days", _("Complaints open > 30 days"), "count"),
            ("open_data_conflicts", _("Open data conflicts"), "count"),
            ("stale_field_groups", _("Stale data"), "groups"),
        ],
    ),
    (
        _("Value and retention"),
        [
            ("client_value", _("Value last year (fees and commission)"), "money"),
            ("products_held", _("Products held"), "count"),
            ("products_ending_within_90_days", _("Products ending within 90 days"), "count"),
            ("open_complaints", _("Open complaints"), "count"),
            ("engagement_trend", _("Engagement trend (contacts, last 6 months vs the 6 before)"), "count"),
            ("churn_risk_signals", _("Churn-risk signals"), "count"),
        ],
    ),
]
GROUP_LABELS = {group.key: group.label for group in FIELD_GROUPS}


@dataclass
class DerivedRow:
    fact: str
    label: str
    value: str
    unknown_reason: str
    title: str
    age: str
    stale: bool
    warning: bool  # the value itself deserves attention (stale data, LTV above 100%...)
    stale_groups: list


def _show(kind: str, value) -> str:
    if kind == "years":
        return ngettext("%(count)s year", "%(count)s years", value) % {"count": value}
    if kind == "date":
        return date_filter(value, "SHORT_DATE_FORMAT")
    if kind == "money":
        return euro(value)
    if kind == "ratio":
        return percentage(Decimal(value) * 100)
    if kind == "bool":
        return gettext("Yes") if value else gettext("No")
    if kind == "household":
        return str(HouseholdType(value).label)
    if kind == "days":
        return ngettext("%(count)s day", "%(count)s days", value) % {"count": value}
    return str(value)


def _note(entry: dict) -> str:
    note = entry.get("note")
    if not note:
        return ""
    try:
        return gettext(note) % entry.get("params", {})
    except (KeyError, TypeError, ValueError):
        return gettext(note)


def _attention(fact: str, value) -> bool:
    if fact == "loan_to_value":
        return value > 1
    if fact == "insured_to_rebuild_ratio":
        return value < 1
    if fact == "days_to_fixed_rate_end":
        return value <= 180
    if fact in ("interest_only_past_state_pension", "open_complaints_over_30_days", "open_data_conflicts"):
        return bool(value)
    if fact == "days_since_last_contact":
        return value > 365
    return False


@register.simple_tag
def derived_sections(client) -> list[tuple[str, list[DerivedRow]]] | None:
    """The client's derived values by section, or None when they have not been derived yet.

    Reads only `client.facts` (select_related by the page's selector): no query of its own.
    """
    try:
        facts = client.facts
    except ClientFacts.DoesNotExist:
        return None
    now = timezone.now()
    sections = []
    for section_label, rows in SECTIONS:
        shown = []
        for fact, label, kind in rows:
            value = getattr(facts, fact)
            reason = facts.unknown.get(fact, "")
            entry = facts.provenance.get(fact, {})
            provider = provider_by_key(entry.get("by", ""))
            at = parse_datetime(entry["at"]) if entry.get("at") else facts.computed_at
            max_staleness = provider.max_staleness if provider else timedelta(days=1)
            stale = at is not None and now - at > max_staleness
            details = [
                gettext("Derived by %(provider)s at %(at)s")
                % {
                    "provider": provider.label if provider else entry.get("by", "?"),
                    "at": date_filter(timezone.localtime(at), "SHORT_DATETIME_FORMAT") if at else "?",
                }
            ]
            if note := _note(entry):
                details.append(note)
            if stale:
                details.append(gettext("stale: older than %(days)s days") % {"days": max_staleness.days})
            known = not reason and value is not None
            if kind == "groups":
                known = not reason
            shown.append(
                DerivedRow(
                    fact=fact,
                    label=str(label),
                    value=_show(kind, value) if known and kind != "groups" else "",
                    unknown_reason=gettext(reason) if reason else "",
                    title=" · ".join(details),
                    age=timesince(at, now, depth=1) if at else "",
                    stale=stale,
                    warning=bool(value) if kind == "groups" else known and _attention(fact, value),
                    stale_groups=[str(GROUP_LABELS.get(key, key)) for key in value] if kind == "groups" else [],
                )
            )
        sections.append((str(section_label), shown))
    return sections


@dataclass
class ClientAnswer:
    label: str
    value: str
    recorded_at: object


# The rows whose fields a client's answers can set (see enrichment/services/confirmations.py).
ANSWER_ROWS = [
    ("client", None, _("Client")),
    ("incomes", "income", _("Income")),
    ("employments", "employment", _("Employment")),
    ("properties", "property", _("Property")),
]


@register.simple_tag
def client_answers(client) -> list[ClientAnswer]:
    """The values on the page whose source is the client's own answer, with the day they were recorded.

    Reads the provenance of rows the page has already loaded: no query of its own.
    """
    answers = []
    for relation, _slot, entity_label in ANSWER_ROWS:
        instances = [client] if relation == "client" else list(getattr(client, relation).all())
        for instance in instances:
            for field_name, entry in (instance.provenance or {}).items():
                if not isinstance(entry, dict) or entry.get("source") != CLIENT:
                    continue
                provenance = instance.provenance_for(field_name)
                field_label = instance._meta.get_field(field_name).verbose_name
                answers.append(
                    ClientAnswer(
                        label=f"{entity_label}: {field_label}",
                        value=display_value(instance, field_name),
                        recorded_at=provenance.as_of,
                    )
                )
    return sorted(answers, key=lambda answer: (answer.recorded_at is None, answer.label))


@register.filter
def field_group_labels(keys) -> list[str]:
    return [str(GROUP_LABELS.get(key, key)) for key in keys or []]
