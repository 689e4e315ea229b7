"""The shipped framework: every rule compiles, fires on a file that breaks it and not on one that doesn't."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import Complaint, InsurancePolicy, RepaymentType
from clients.tests import factories as f
from framework.horizon import rule_horizon
from framework.rules import rule_program
from framework.selectors import framework_evaluate, framework_problems, rule_explain

from .conftest import days_from_today, facts_for

pytestmark = pytest.mark.django_db


def fired(version, *clients) -> dict[int, set[str]]:
    """Which rules fire for which of these clients (whole-book evaluation, limited to them)."""
    results = framework_evaluate(version=version, client_ids=[client.pk for client in clients])
    by_client = {client.pk: set() for client in clients}
    for result in results:
        by_client[result.client_id].add(result.rule.key)
    return by_client


def assert_fires_only_for(version, key, breaking, compliant):
    by_client = fired(version, breaking, compliant)
    assert key in by_client[breaking.pk]
    assert key not in by_client[compliant.pk]
    rule = version.rules.get(key=key)
    assert rule_explain(rule=rule, client_id=breaking.pk).fires
    assert not rule_explain(rule=rule, client_id=compliant.pk).fires


def test_the_default_framework_is_active_and_every_rule_compiles(default_framework):
    assert default_framework.status == "active"
    assert framework_problems(version=default_framework) == []
    keys = set(default_framework.rules.values_list("key", flat=True))
    assert {
        "fixed_rate_ends_14_days",
        "fixed_rate_ends_6_months",
        "home_underinsured",
        "pension_gap",
        "interest_only_past_state_pension",
        "dependants_without_life_cover",
        "no_contact_12_months",
        "stale_income",
        "complaint_unresolved_30_days",
    } <= keys


def test_every_default_rule_cites_its_basis_and_has_parameters_where_it_has_thresholds(default_framework):
    for rule in default_framework.rules.all():
        assert "Wft" in rule.legal_basis or "policy" in rule.legal_basis.lower(), rule.key
        program = rule_program(rule)
        assert program.reported, f"{rule.key} reports nothing"
    assert default_framework.rules.get(key="fixed_rate_ends_14_days").parameters == {"days": 14}
    assert default_framework.rules.get(key="complaint_unresolved_30_days").parameters == {"days": 30}


def test_fixed_rate_ending_within_14_days_fires_for_a_loan_part_ending_in_10_days(default_framework):
    breaking = f.LoanPartFactory(fixed_rate_end_date=days_from_today(10)).mortgage.client
    compliant = f.LoanPartFactory(fixed_rate_end_date=days_from_today(400)).mortgage.client
    assert_fires_only_for(default_framework, "fixed_rate_ends_14_days", breaking, compliant)
    (result,) = [
        r
        for r in framework_evaluate(version=default_framework, client_ids=[breaking.pk])
        if r.rule.key == "fixed_rate_ends_14_days"
    ]
    assert result.values["fixed_rate_end_date"] == days_from_today(10)
    assert result.granulation.days_to_deadline == 10
    assert result.granule == "fixed_rate_within_14_days"


def test_fixed_rate_windows_do_not_overlap(default_framework):
    soon = f.LoanPartFactory(fixed_rate_end_date=days_from_today(10)).mortgage.client
    later = f.LoanPartFactory(fixed_rate_end_date=days_from_today(90)).mortgage.client
    by_client = fired(default_framework, soon, later)
    assert "fixed_rate_ends_6_months" not in by_client[soon.pk]
    assert "fixed_rate_ends_14_days" not in by_client[later.pk]
    assert "fixed_rate_ends_6_months" in by_client[later.pk]


def test_fixed_rate_ending_within_6_months_fires_at_90_days_not_at_400(default_framework):
    breaking = f.LoanPartFactory(fixed_rate_end_date=days_from_today(90)).mortgage.client
    compliant = f.LoanPartFactory(fixed_rate_end_date=days_from_today(400)).mortgage.client
    assert_fires_only_for(default_framework, "fixed_rate_ends_6_months", breaking, compliant)


def test_home_insured_below_rebuild_value_fires_and_reports_the_shortfall(default_framework):
    breaking = f.PropertyFactory(rebuild_value=Decimal("410000")).client
    f.InsurancePolicyFactory(client=breaking, kind=InsurancePolicy.Kind.HOME, insured_amount=Decimal("350000"))
    compliant = f.PropertyFactory(rebuild_value=Decimal("410000")).client
    f.InsurancePolicyFactory(client=compliant, kind=InsurancePolicy.Kind.HOME, insured_amount=Decimal("450000"))
    assert_fires_only_for(default_framework, "home_underinsured", breaking, compliant)
    (result,) = [
        r
        for r in framework_evaluate(version=default_framework, client_ids=[breaking.pk])
        if r.rule.key == "home_underinsured"
    ]
    assert result.values == {
        "insured_amount": Decimal("350000"),
        "rebuild_value": Decimal("410000"),
        "shortfall": Decimal("60000"),
    }
    assert "60,000" in result.message


def test_pension_gap_is_a_separate_quieter_granule_under_30(default_framework):
    older = f.ClientFactory()
    facts_for(older, age=45, replacement_ratio=Decimal("0.61"), gross_income=Decimal("60000"))
    younger = f.ClientFactory()
    facts_for(younger, age=26, replacement_ratio=Decimal("0.61"))
    compliant = f.ClientFactory()
    facts_for(compliant, age=45, replacement_ratio=Decimal("0.75"))
    unknown = f.ClientFactory()
    facts_for(unknown, age=45, replacement_ratio=None, unknown={"replacement_ratio": "no pension data"})
    results = {
        r.client_id: r
        for r in framework_evaluate(
            version=default_framework, client_ids=[older.pk, younger.pk, compliant.pk, unknown.pk]
        )
        if r.rule.key == "pension_gap"
    }
    assert set(results) == {older.pk, younger.pk}
    assert (results[older.pk].granule, results[older.pk].urgency) == ("pension_gap", "normal")
    assert (results[younger.pk].granule, results[younger.pk].urgency) == ("pension_gap_under_30", "low")
    assert results[older.pk].values["replacement_percentage"] == Decimal("61")
    assert results[younger.pk].granulation.age_band == "under_30"
    explanation = rule_explain(rule=default_framework.rules.get(key="pension_gap"), client_id=unknown.pk)
    assert explanation.truth is None
    assert "no pension data" in explanation.reason


def test_interest_only_part_running_past_the_state_pension_date_fires(default_framework):
    breaking = f.ClientFactory()
    facts_for(breaking, state_pension_date=date(2047, 5, 17))
    mortgage = f.MortgageFactory(client=breaking)
    f.LoanPartFactory(mortgage=mortgage, repayment_type=RepaymentType.INTEREST_ONLY, end_date=date(2055, 1, 1))
    compliant = f.ClientFactory()
    facts_for(compliant, state_pension_date=date(2047, 5, 17))
    mortgage = f.MortgageFactory(client=compliant)
    f.LoanPartFactory(mortgage=mortgage, repayment_type=RepaymentType.INTEREST_ONLY, end_date=date(2045, 1, 1))
    f.LoanPartFactory(mortgage=mortgage, repayment_type=RepaymentType.ANNUITY, end_date=date(2055, 1, 1))
    assert_fires_only_for(default_framework, "interest_only_past_state_pension", breaking, compliant)


def test_mortgage_with_dependants_and_no_life_cover_fires_only_when_cover_is_known_to_be_missing(default_framework):
    breaking = f.MortgageFactory().client
    facts_for(breaking, has_dependants=True, has_life_cover=False, household_type="family")
    compliant = f.MortgageFactory().client
    facts_for(compliant, has_dependants=True, has_life_cover=True)
    unknown = f.MortgageFactory().client
    facts_for(unknown, has_dependants=True, has_life_cover=None)
    assert_fires_only_for(default_framework, "dependants_without_life_cover", breaking, compliant)
    assert "dependants_without_life_cover" not in fired(default_framework, unknown)[unknown.pk]


def test_no_contact_for_12_months_fires_after_400_days_of_silence(default_framework):
    breaking = f.ContactMomentFactory(occurred_at=timezone.now() - timedelta(days=400)).client
    compliant = f.ContactMomentFactory(occurred_at=timezone.now() - timedelta(days=40)).client
    assert_fires_only_for(default_framework, "no_contact_12_months", breaking, compliant)


def test_no_contact_counts_from_the_start_of_the_relationship_when_there_was_never_any(default_framework):
    breaking = f.ClientFactory(client_since=days_from_today(-800))
    compliant = f.ClientFactory(client_since=days_from_today(-30))
    assert_fires_only_for(default_framework, "no_contact_12_months", breaking, compliant)
    (result,) = [
        r
        for r in framework_evaluate(version=default_framework, client_ids=[breaking.pk])
        if r.rule.key == "no_contact_12_months"
    ]
    assert result.values["no_contact_since"] == days_from_today(-800)
    assert "last_contact" in result.values and result.values["last_contact"] is None


def test_no_shipped_rule_reports_a_value_that_moves_with_the_date_alone(default_framework):
    """A value like "no contact for 400 days" changes every day, so its alerts would be rewritten every
    night and a night could not skip those clients; the shipped rules report dates instead."""
    for rule in default_framework.rules.all():
        horizon = rule_horizon(rule_program(rule))
        assert not horizon.daily and not horizon.daily_when_fired, rule.key


def test_stale_income_fires_when_enrichment_marks_income_stale(default_framework):
    breaking = f.ClientFactory()
    facts_for(breaking, stale_field_groups=["income", "pension"], gross_income=Decimal("58000"))
    compliant = f.ClientFactory()
    facts_for(compliant, stale_field_groups=["pension"])
    assert_fires_only_for(default_framework, "stale_income", breaking, compliant)


def test_complaint_open_for_more_than_30_days_fires(default_framework):
    breaking = f.ComplaintFactory(received_on=days_from_today(-45)).client
    compliant = f.ComplaintFactory(
        received_on=days_from_today(-45), status=Complaint.Status.RESOLVED, resolved_on=days_from_today(-5)
    ).client
    f.ComplaintFactory(client=compliant, received_on=days_from_today(-10))
    assert_fires_only_for(default_framework, "complaint_unresolved_30_days", breaking, compliant)
