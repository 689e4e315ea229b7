"""Staleness: each field group has a maximum age (the firm's rule, else the default); a value older
than it is stale, on the 360° page and as a fact the framework can use ("income is stale")."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clients.freshness import max_age_days, max_age_overrides
from clients.provenance import Provenance
from clients.tests.factories import ClientFactory, IncomeFactory, PropertyFactory
from enrichment.models import FreshnessPolicy
from enrichment.services.freshness import freshness_policies_changed, freshness_policy_set

from .conftest import derive

pytestmark = pytest.mark.django_db


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def income_changed(days: int, **fields):
    client = ClientFactory(source_changed_at=days_ago(5))
    IncomeFactory(client=client, source_changed_at=days_ago(days), **fields)
    return client


def test_the_seeded_rules_match_the_defaults():
    assert max_age_overrides() == {
        "contact": 730,
        "income": 365,
        "property_value": 730,
        "household": 1095,
        "pension": 365,
    }


def test_an_income_older_than_a_year_is_stale():
    assert derive(income_changed(400)).stale_field_groups == ["income"]
    assert derive(income_changed(300)).stale_field_groups == []


def test_a_value_with_its_own_provenance_is_aged_by_it_not_by_its_row():
    recent = Provenance(source="advisory-tool", changed_at=days_ago(10)).to_json()
    client = income_changed(400, provenance={"gross_annual_amount": recent, "kind": recent})
    assert derive(client).stale_field_groups == []

    old = Provenance(source="advisory-tool", changed_at=days_ago(800)).to_json()
    client = ClientFactory(source_changed_at=days_ago(5))
    PropertyFactory(client=client, source_changed_at=days_ago(5), provenance={"market_value": old})
    assert derive(client).stale_field_groups == ["property_value"]


def test_the_firms_own_maximum_age_applies():
    freshness_policy_set(group_key="income", max_age_days=500)
    assert derive(income_changed(400)).stale_field_groups == []
    freshness_policy_set(group_key="income", max_age_days=30)
    assert derive(income_changed(40)).stale_field_groups == ["income"]


def test_a_group_without_a_rule_keeps_its_default():
    FreshnessPolicy.objects.all().delete()
    freshness_policies_changed()
    assert max_age_days("Income", "gross_annual_amount", max_age_overrides()) == 365
    assert derive(income_changed(400)).stale_field_groups == ["income"]


def test_the_360_page_flags_stale_values_by_the_firms_rule(client, advisor):
    person = income_changed(200)
    person.team = advisor.team
    person.save()
    client.force_login(advisor)

    def income_is_flagged() -> bool:
        html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
        marker = 'data-field="Income.gross_annual_amount"'
        start = html.index(marker)
        return "value-stale" in html[html.rindex("<span", 0, start) : start]

    assert not income_is_flagged()
    freshness_policy_set(group_key="income", max_age_days=90)
    assert income_is_flagged()


def test_stale_groups_show_on_the_360_page_for_the_framework_and_the_advisor(client, advisor):
    person = income_changed(400)
    person.team = advisor.team
    person.save()
    derive(person)
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    start = html.index('data-fact="stale_field_groups"')
    assert "Income and employment" in html[start : start + 400]


def test_the_360_page_reads_the_rules_from_the_cache_not_the_database(client, advisor):
    person = income_changed(200)
    person.team = advisor.team
    person.save()
    client.force_login(advisor)
    client.get(reverse("clients:detail", args=[person.pk]))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("clients:detail", args=[person.pk]))
    assert not [query for query in queries if "enrichment_freshnesspolicy" in query["sql"]]


def test_an_admin_change_takes_effect_at_once(client, admin, advisor):
    person = income_changed(200)
    person.team = advisor.team
    person.save()
    assert max_age_overrides()["income"] == 365  # now cached
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    policy = FreshnessPolicy.objects.get(group_key="income")
    response = client.post(
        reverse("admin:enrichment_freshnesspolicy_change", args=[policy.pk]),
        {"group_key": "income", "max_age_days": 100},
    )
    assert response.status_code == 302
    assert max_age_overrides()["income"] == 100
