"""What the alerts app gets from the framework: results with values, granulation and explanations."""

import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients.models import RepaymentType
from clients.tests import factories as f
from framework import services
from framework.models import DecisionInput, DecisionRow, FrameworkVersion, ReportedValue, Rule
from framework.rules import RuleDefinitionError, message_render, rule_program
from framework.selectors import age_band, client_snapshot, client_snapshots, framework_evaluate, rule_explain

from .conftest import days_from_today, facts_for

pytestmark = pytest.mark.django_db


def troubled_client():
    """A client who breaks two default rules: fixed rate ends in 10 days, complaint open 45 days."""
    client = f.LoanPartFactory(fixed_rate_end_date=days_from_today(10)).mortgage.client
    f.ComplaintFactory(client=client, received_on=days_from_today(-45))
    # Covered against disability, so the mortgage breaks no rule of migration 0003.
    f.InsurancePolicyFactory(client=client, kind="disability", insured_amount=1200)
    facts_for(client, age=52, household_type="family")
    return client


def test_results_carry_the_granulation_the_canvas_segments_on(default_framework):
    client = troubled_client()
    results = {r.rule.key: r for r in framework_evaluate(client_ids=[client.pk])}
    assert set(results) == {"fixed_rate_ends_14_days", "complaint_unresolved_30_days"}
    fixed_rate = results["fixed_rate_ends_14_days"]
    assert fixed_rate.alert_type == "fixed_rate_ending"
    assert fixed_rate.urgency == "critical"
    assert fixed_rate.granulation.age_band == "45_54"
    assert fixed_rate.granulation.household_type == "family"
    assert fixed_rate.granulation.days_to_deadline == 10
    assert fixed_rate.granulation.discrepancy_count == 2
    assert results["complaint_unresolved_30_days"].granulation.days_to_deadline is None


@pytest.mark.parametrize(
    ("age", "band"),
    [(None, "unknown"), (18, "under_30"), (29, "under_30"), (30, "30_44"), (66, "55_66"), (67, "67_plus")],
)
def test_age_bands(age, band):
    assert age_band(age) == band


def test_the_whole_book_is_evaluated_in_a_number_of_queries_independent_of_its_size(default_framework):
    troubled_client()
    with CaptureQueriesContext(connection) as small_book:
        small = framework_evaluate()
    for _ in range(15):
        troubled_client()
        f.full_client_file()
    with CaptureQueriesContext(connection) as large_book:
        large = framework_evaluate()
    assert len(large) > len(small)
    assert len(large_book.captured_queries) == len(small_book.captured_queries)
    # Loading the version and its rules, then one query per enabled rule.
    assert len(small_book.captured_queries) <= 6 + default_framework.rules.count()


def test_evaluation_is_limited_to_the_clients_asked_for_and_skips_deleted_clients(default_framework):
    asked, other = troubled_client(), troubled_client()
    deleted = troubled_client()
    deleted.deleted_at = timezone.now()
    deleted.save()
    assert {r.client_id for r in framework_evaluate(client_ids=[asked.pk, deleted.pk])} == {asked.pk}
    assert {r.client_id for r in framework_evaluate()} >= {asked.pk, other.pk}
    assert deleted.pk not in {r.client_id for r in framework_evaluate()}


def test_a_disabled_rule_raises_nothing(admin, default_framework):
    draft = services.framework_version_copy(version=default_framework, user=admin)
    rule = draft.rules.get(key="fixed_rate_ends_14_days")
    rule.enabled = False
    services.rule_save(rule=rule, user=admin)
    client = troubled_client()
    assert "fixed_rate_ends_14_days" not in {
        r.rule.key for r in framework_evaluate(version=draft, client_ids=[client.pk])
    }


def test_a_rule_that_no_longer_compiles_fails_closed_and_says_why(admin, default_framework, caplog):
    draft = services.framework_version_copy(version=default_framework, user=admin)
    Rule.objects.filter(version=draft, key="fixed_rate_ends_14_days").update(condition="facts.no_such_fact > 1")
    client = troubled_client()
    with caplog.at_level(logging.WARNING, logger="framework.selectors"):
        keys = {r.rule.key for r in framework_evaluate(version=draft, client_ids=[client.pk])}
    assert keys == {"complaint_unresolved_30_days"}
    assert "fixed_rate_ends_14_days" in caplog.text and "no_such_fact" in caplog.text
    explanation = rule_explain(rule=draft.rules.get(key="fixed_rate_ends_14_days"), client_id=client.pk)
    assert not explanation.fires and "invalid" in explanation.reason


def test_a_collect_table_raises_one_result_per_matching_row(admin):
    version = services.framework_version_save(version=FrameworkVersion(name="Collect"), user=admin)
    rule = services.rule_save(
        rule=Rule(
            version=version,
            key="age_checks",
            name="Age checks",
            alert_type="age_check",
            kind=Rule.Kind.TABLE,
            hit_policy=Rule.HitPolicy.COLLECT,
            message_template="{age}",
        ),
        user=admin,
    )
    services.rule_part_save(part=ReportedValue(rule=rule, label="age", expression="facts.age"), user=admin)
    services.rule_part_save(part=DecisionInput(rule=rule, label="Age", expression="facts.age"), user=admin)
    for position, (cell, granule) in enumerate([(">= 50", "over_50"), (">= 60", "over_60"), ("< 20", "young")]):
        row = DecisionRow(rule=rule, position=position, cells=[cell], granule=granule)
        services.rule_part_save(part=row, user=admin)
    client = f.ClientFactory()
    facts_for(client, age=64)
    results = framework_evaluate(version=version, client_ids=[client.pk])
    assert sorted(r.granule for r in results) == ["over_50", "over_60"]
    assert {r.granulation.discrepancy_count for r in results} == {1}
    rule.hit_policy = Rule.HitPolicy.FIRST
    services.rule_save(rule=rule, user=admin)
    assert [r.granule for r in framework_evaluate(version=version, client_ids=[client.pk])] == ["over_50"]


def test_many_client_files_read_at_once_are_each_what_reading_one_gives():
    full = f.full_client_file(products=2)
    partner = f.ClientFactory(household=full.household)  # shares the household's members
    facts_for(partner, age=44)
    bare = f.ClientFactory(household=None)
    ended = f.full_client_file()
    ended.policies.update(deleted_at=timezone.now())  # deleted rows are left out both ways
    ids = [full.pk, partner.pk, bare.pk, ended.pk]

    with CaptureQueriesContext(connection) as reading:
        snapshots = client_snapshots(ids)

    assert snapshots == {client_id: client_snapshot(client_id) for client_id in ids}
    assert snapshots[full.pk]["loan_parts"] and snapshots[full.pk]["family_members"]
    assert snapshots[partner.pk]["family_members"] == snapshots[full.pk]["family_members"]
    assert snapshots[bare.pk]["family_members"] == [] and snapshots[bare.pk]["facts"] is None
    assert snapshots[ended.pk]["policies"] == [] and snapshots[ended.pk]["loan_parts"]
    assert len(reading.captured_queries) < 25  # a query per kind of row, whatever the number of clients


def test_an_explanation_gives_every_value_used_with_its_source_and_age(default_framework):
    client = f.ClientFactory()
    facts_for(
        client,
        state_pension_date=date(2047, 5, 17),
        provenance={
            "state_pension_date": {"by": "state_pension", "at": (timezone.now() - timedelta(days=2)).isoformat()}
        },
    )
    mortgage = f.MortgageFactory(client=client)
    part = f.LoanPartFactory(
        mortgage=mortgage,
        repayment_type=RepaymentType.INTEREST_ONLY,
        end_date=date(2055, 1, 1),
        source="crm",
        source_changed_at=timezone.now() - timedelta(days=30),
    )
    rule = default_framework.rules.get(key="interest_only_past_state_pension")
    explanation = rule_explain(rule=rule, client_id=client.pk)
    assert explanation.fires and explanation.truth is True
    used = {value.name: value for value in explanation.used}
    end_date = used[f"loan_parts[{part.pk}].end_date"]
    assert (end_date.value, end_date.source, end_date.age_days) == (date(2055, 1, 1), "crm", 30)
    pension_date = used["facts.state_pension_date"]
    assert (pension_date.source, pension_date.age_days, pension_date.note) == ("derived", 2, "state_pension")
    assert explanation.values["state_pension_date"] == date(2047, 5, 17)
    assert "2047" in explanation.message or "17-05-2047" in explanation.message or "05/17/2047" in explanation.message


def test_an_unknown_outcome_names_the_missing_values_and_why_they_are_missing(default_framework):
    client = f.PropertyFactory(rebuild_value=None).client
    f.InsurancePolicyFactory(client=client, kind="home", insured_amount=Decimal("300000"))
    explanation = rule_explain(rule=default_framework.rules.get(key="home_underinsured"), client_id=client.pk)
    assert explanation.truth is None and not explanation.fires
    assert "property.rebuild_value" in explanation.reason


def test_a_message_only_substitutes_reported_values():
    assert message_render("Ends {end} {{literally}}", {"end": "x"}) == "Ends x {literally}"
    rule = Rule(
        key="r",
        alert_type="a",
        condition="true",
        message_template="{end.__class__}",
        parameters={},
    )
    with pytest.raises(RuleDefinitionError, match="message"):
        rule_program(rule, reported_values=[])
    rule.message_template = "{not_reported}"
    with pytest.raises(RuleDefinitionError, match="not a reported value"):
        rule_program(rule, reported_values=[])
