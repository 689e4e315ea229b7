"""The five checks added to the shipped framework (migration 0003): each fires on a file that breaks it only."""

from datetime import date
from decimal import Decimal

from clients.models import Asset, InsurancePolicy, RepaymentType
from clients.tests import factories as f
from framework.selectors import framework_problems

from .conftest import days_from_today, facts_for
from .test_default_framework import assert_fires_only_for, fired

NEW_RULES = {
    "mortgage_without_disability_cover",
    "mortgage_term_past_state_pension",
    "savings_buffer_low",
    "mortgage_within_nhg_limit",
    "market_value_outdated",
}


def test_the_shipped_framework_has_at_least_twelve_rules_and_they_all_compile(default_framework):
    keys = set(default_framework.rules.values_list("key", flat=True))
    assert keys >= NEW_RULES and len(keys) >= 12
    assert framework_problems(version=default_framework) == []


def test_a_mortgage_without_disability_cover_fires_below_60_only(default_framework):
    breaking = f.MortgageFactory().client
    facts_for(breaking, age=41, mortgage_balance=Decimal("240000"), gross_income=Decimal("52000"))
    covered = f.MortgageFactory().client
    facts_for(covered, age=41)
    f.InsurancePolicyFactory(client=covered, kind=InsurancePolicy.Kind.DISABILITY, insured_amount=Decimal("1200"))
    assert_fires_only_for(default_framework, "mortgage_without_disability_cover", breaking, covered)
    nearly_retired = f.MortgageFactory().client
    facts_for(nearly_retired, age=63)
    assert "mortgage_without_disability_cover" not in fired(default_framework, nearly_retired)[nearly_retired.pk]


def test_a_repaying_loan_part_past_the_state_pension_date_fires_but_interest_only_is_the_other_rule(
    default_framework,
):
    breaking = f.ClientFactory()
    facts_for(breaking, state_pension_date=date(2047, 5, 17))
    f.LoanPartFactory(mortgage=f.MortgageFactory(client=breaking), end_date=date(2055, 1, 1))
    compliant = f.ClientFactory()
    facts_for(compliant, state_pension_date=date(2047, 5, 17))
    mortgage = f.MortgageFactory(client=compliant)
    f.LoanPartFactory(mortgage=mortgage, end_date=date(2045, 1, 1))
    f.LoanPartFactory(mortgage=mortgage, repayment_type=RepaymentType.INTEREST_ONLY, end_date=date(2055, 1, 1))
    assert_fires_only_for(default_framework, "mortgage_term_past_state_pension", breaking, compliant)


def test_a_savings_buffer_below_three_months_of_income_fires(default_framework):
    breaking = f.ClientFactory()
    facts_for(breaking, gross_income=Decimal("60000"))
    f.AssetFactory(client=breaking, kind=Asset.Kind.SAVINGS, balance=Decimal("4000"))
    f.AssetFactory(client=breaking, kind=Asset.Kind.INVESTMENT, balance=Decimal("90000"))
    compliant = f.ClientFactory()
    facts_for(compliant, gross_income=Decimal("60000"))
    f.AssetFactory(client=compliant, kind=Asset.Kind.BANK_SAVINGS, balance=Decimal("16000"))
    assert_fires_only_for(default_framework, "savings_buffer_low", breaking, compliant)


def test_a_mortgage_within_the_nhg_cost_limit_without_nhg_fires(default_framework):
    breaking = f.MortgageFactory(nhg=False).client
    facts_for(breaking, mortgage_balance=Decimal("310000"))
    with_nhg = f.MortgageFactory(nhg=True).client
    facts_for(with_nhg, mortgage_balance=Decimal("310000"))
    assert_fires_only_for(default_framework, "mortgage_within_nhg_limit", breaking, with_nhg)
    above_limit = f.MortgageFactory(nhg=False).client
    facts_for(above_limit, mortgage_balance=Decimal("650000"))
    assert "mortgage_within_nhg_limit" not in fired(default_framework, above_limit)[above_limit.pk]


def test_a_market_value_older_than_five_years_fires_for_a_mortgage_client(default_framework):
    breaking = f.MortgageFactory(property__market_value_date=days_from_today(-6 * 365)).client
    compliant = f.MortgageFactory(property__market_value_date=days_from_today(-400)).client
    assert_fires_only_for(default_framework, "market_value_outdated", breaking, compliant)
