"""Derived values against hand-worked examples: loan-to-value with an indexed home value, the pension
replacement ratio, and the other providers' everyday cases."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import FamilyMember, Income, InsurancePolicy, MaritalStatus, RepaymentType
from clients.tests.factories import (
    ClientFactory,
    ComplaintFactory,
    ContactMomentFactory,
    FamilyMemberFactory,
    IncomeFactory,
    InsurancePolicyFactory,
    LoanPartFactory,
    MortgageFactory,
    PensionFactory,
    PropertyFactory,
)
from enrichment.models import HouseholdType

from .conftest import derive

pytestmark = pytest.mark.django_db


def utrecht_home(client, **fields):
    values = {"postcode": "3512 AB", "market_value": Decimal("400000"), "market_value_date": date(2022, 5, 15)}
    return PropertyFactory(client=client, **{**values, **fields})


def mortgage_of(client, home, *balances):
    mortgage = MortgageFactory(client=client, property=home)
    for balance in balances:
        LoanPartFactory(mortgage=mortgage, outstanding_balance=Decimal(balance))
    return mortgage


# --- Loan-to-value --------------------------------------------------------------------------------


def test_loan_to_value_uses_the_home_value_indexed_to_the_latest_quarter(utrecht_index):
    # € 400,000 valued in 2022 Q2 (index 130.0), latest Utrecht index 2025 Q3: 152.1.
    # Indexed: 400,000 x 152.1 / 130.0 = € 468,000. Mortgage: 240,000 + 60,000 = € 300,000.
    # Loan-to-value: 300,000 / 468,000 = 0.6410 (64.1%).
    client = ClientFactory()
    mortgage_of(client, utrecht_home(client), "240000", "60000")
    facts = derive(client)
    assert facts.indexed_property_value == Decimal("468000.00")
    assert facts.mortgage_balance == Decimal("300000.00")
    assert facts.loan_to_value == Decimal("0.6410")
    note = facts.provenance["indexed_property_value"]
    assert note["by"] == "home_value"
    assert note["params"] == {"value": "400,000", "valued": "2022-Q2", "latest": "2025-Q3", "region": "Utrecht"}


def test_without_a_market_value_the_woz_value_is_indexed_from_its_valuation_date(utrecht_index):
    # WOZ year 2024 values the home on 1 January 2023 (2023 Q1, index 125.0): 350,000 x 152.1 / 125.0
    # = € 425,880; a mortgage of € 212,940 is then exactly half: 0.5000.
    client = ClientFactory()
    home = utrecht_home(client, market_value=None, market_value_date=None, woz_value=Decimal("350000"), woz_year=2024)
    mortgage_of(client, home, "212940")
    facts = derive(client)
    assert facts.indexed_property_value == Decimal("425880.00")
    assert facts.loan_to_value == Decimal("0.5000")


def test_a_valuation_newer_than_the_latest_index_is_not_indexed(utrecht_index):
    client = ClientFactory()
    mortgage_of(client, utrecht_home(client, market_value_date=date(2026, 1, 10)), "100000")
    facts = derive(client)
    assert facts.indexed_property_value == Decimal("400000.00")
    assert facts.loan_to_value == Decimal("0.2500")
    assert "newer than the latest index" in facts.provenance["indexed_property_value"]["note"]


def test_a_home_outside_the_reference_table_has_no_indexed_value_and_says_why(utrecht_index):
    client = ClientFactory(postcode="9711 AB")
    mortgage_of(client, utrecht_home(client, postcode="9711 AB"), "100000")
    facts = derive(client)
    assert facts.indexed_property_value is None
    assert facts.loan_to_value is None
    assert facts.unknown["indexed_property_value"] == "the postcode area is not in the reference table"
    assert facts.unknown["loan_to_value"] == "the indexed value of the own home is unknown"


def test_a_valuation_before_the_index_starts_is_unknown_not_a_guess(utrecht_index):
    client = ClientFactory()
    mortgage_of(client, utrecht_home(client, market_value_date=date(2001, 3, 1)), "100000")
    facts = derive(client)
    assert facts.indexed_property_value is None
    assert "no figure for the region and valuation quarter" in facts.unknown["indexed_property_value"]


def test_without_a_mortgage_the_loan_to_value_is_unknown_for_that_reason(utrecht_index):
    client = ClientFactory()
    utrecht_home(client)
    facts = derive(client)
    assert facts.indexed_property_value == Decimal("468000.00")
    assert facts.loan_to_value is None and facts.mortgage_balance is None
    assert facts.unknown["loan_to_value"] == "no mortgage"


def test_an_unknown_loan_part_balance_makes_the_mortgage_balance_unknown_not_partial(utrecht_index):
    client = ClientFactory()
    mortgage = mortgage_of(client, utrecht_home(client), "200000")
    LoanPartFactory(mortgage=mortgage, outstanding_balance=None)
    facts = derive(client)
    assert facts.mortgage_balance is None
    assert facts.unknown["mortgage_balance"] == "the outstanding balance of a loan part is unknown"
    assert facts.unknown["loan_to_value"] == "the outstanding mortgage is unknown"


# --- Replacement ratio ----------------------------------------------------------------------------


def single_with_salary(**fields):
    client = ClientFactory(marital_status=MaritalStatus.SINGLE, **fields)
    IncomeFactory(client=client, gross_annual_amount=Decimal("60000"))
    return client


def test_replacement_ratio_of_a_single_person(db):
    # Projected pension € 21,000 + a full single AOW € 20,929.44 = € 41,929.44 a year, against a gross
    # income of € 60,000: 41,929.44 / 60,000 = 0.6988 (69.9%).
    client = single_with_salary()
    PensionFactory(client=client, projected_annual_pension=Decimal("21000"))
    facts = derive(client)
    assert facts.gross_income == Decimal("60000.00")
    assert facts.projected_retirement_income == Decimal("41929.44")
    assert facts.replacement_ratio == Decimal("0.6988")


def test_replacement_ratio_with_a_partner_uses_the_partner_aow(db):
    # A partner in the household: AOW € 14,378.64 + pension € 21,000 = € 35,378.64; / 60,000 = 0.5896.
    client = single_with_salary()
    FamilyMemberFactory(household=client.household, relation=FamilyMember.Relation.PARTNER, first_name="Bas")
    PensionFactory(client=client, projected_annual_pension=Decimal("21000"))
    facts = derive(client)
    assert facts.has_partner is True
    assert facts.projected_retirement_income == Decimal("35378.64")
    assert facts.replacement_ratio == Decimal("0.5896")


def test_rental_and_pension_income_do_not_count_as_income_to_replace(db):
    client = single_with_salary()
    IncomeFactory(client=client, kind=Income.Kind.RENTAL, gross_annual_amount=Decimal("12000"))
    IncomeFactory(client=client, kind=Income.Kind.BUSINESS, gross_annual_amount=Decimal("15000"))
    facts = derive(client)
    assert facts.gross_income == Decimal("75000.00")
    # No supplementary pension recorded: AOW only, 20,929.44 / 75,000 = 0.2791, and the note says so.
    assert facts.replacement_ratio == Decimal("0.2791")
    assert "no supplementary pension recorded" in facts.provenance["projected_retirement_income"]["note"]


def test_without_income_the_replacement_ratio_is_unknown_never_zero(db):
    client = ClientFactory(marital_status=MaritalStatus.SINGLE)
    facts = derive(client)
    assert facts.gross_income is None and facts.replacement_ratio is None
    assert facts.unknown["gross_income"] == "no current income from work, business or benefits recorded"
    assert facts.unknown["replacement_ratio"] == "the gross income is unknown or zero"


# --- Person, household, mortgage, insurance, relationship ----------------------------------------


def test_age_and_state_pension_date_come_from_the_birth_date(db):
    today = timezone.localdate()
    born = date(today.year - 40, 1, 1)
    facts = derive(ClientFactory(birth_date=born))
    assert facts.age == 40
    assert facts.state_pension_date == date(born.year + 67, 4, 1)
    assert facts.provenance["state_pension_date"]["note"].startswith("provisional")


def test_a_client_without_birth_date_has_no_age_and_says_why(db):
    facts = derive(ClientFactory(birth_date=None))
    assert facts.age is None and facts.state_pension_date is None
    assert facts.unknown["age"] == "no birth date"
    assert facts.unknown["state_pension_date"] == "no birth date"


def test_household_situation_counts_children_and_their_ages(db):
    today = timezone.localdate()
    client = ClientFactory(marital_status=MaritalStatus.MARRIED)
    FamilyMemberFactory(household=client.household, birth_date=today - timedelta(days=365 * 7 + 10))
    FamilyMemberFactory(
        household=client.household, birth_date=today - timedelta(days=365 * 20 + 10), lives_at_home=False
    )
    facts = derive(client)
    assert facts.has_partner is True
    assert facts.children_count == 2
    assert facts.youngest_child_age == 7
    assert facts.has_dependants is True
    assert facts.household_type == HouseholdType.FAMILY


def test_a_single_person_without_children_has_no_dependants(db):
    facts = derive(ClientFactory(marital_status=MaritalStatus.DIVORCED))
    assert facts.has_partner is False
    assert facts.children_count == 0
    assert facts.has_dependants is False
    assert facts.household_type == HouseholdType.SINGLE
    assert facts.unknown["youngest_child_age"] == "no children recorded"


def test_unknown_marital_status_without_a_recorded_partner_leaves_the_household_unknown(db):
    facts = derive(ClientFactory(marital_status=MaritalStatus.UNKNOWN))
    assert facts.has_partner is None
    assert facts.household_type == HouseholdType.UNKNOWN
    assert facts.unknown["household_type"] == "the marital status is unknown and no partner is recorded"


def test_days_to_the_next_fixed_rate_end_and_interest_only_past_aow(db):
    today = timezone.localdate()
    client = ClientFactory(birth_date=date(1965, 6, 1))  # AOW (provisional) 1 September 2032
    mortgage = MortgageFactory(client=client)
    LoanPartFactory(mortgage=mortgage, fixed_rate_end_date=today + timedelta(days=45))
    LoanPartFactory(mortgage=mortgage, fixed_rate_end_date=today + timedelta(days=400))
    LoanPartFactory(mortgage=mortgage, fixed_rate_end_date=today - timedelta(days=5))  # already ended
    LoanPartFactory(
        mortgage=mortgage,
        repayment_type=RepaymentType.INTEREST_ONLY,
        fixed_rate_end_date=today + timedelta(days=2000),
        end_date=date(2040, 1, 1),
    )
    facts = derive(client)
    assert facts.next_fixed_rate_end_date == today + timedelta(days=45)
    assert facts.days_to_fixed_rate_end == 45
    assert facts.interest_only_past_state_pension is True


def test_home_insured_against_rebuild_value_and_life_cover(db):
    client = ClientFactory()
    home = PropertyFactory(client=client, rebuild_value=Decimal("400000"))
    InsurancePolicyFactory(client=client, property=home, insured_amount=Decimal("300000"))
    InsurancePolicyFactory(client=client, kind=InsurancePolicy.Kind.TERM_LIFE, insured_amount=Decimal("250000"))
    facts = derive(client)
    assert facts.insured_to_rebuild_ratio == Decimal("0.7500")
    assert facts.has_life_cover is True


def test_a_home_policy_without_insured_amount_leaves_the_ratio_unknown(db):
    client = ClientFactory()
    InsurancePolicyFactory(client=client, property=PropertyFactory(client=client), insured_amount=None)
    facts = derive(client)
    assert facts.insured_to_rebuild_ratio is None
    assert facts.unknown["insured_to_rebuild_ratio"] == "a home policy has no insured amount"
    assert facts.has_life_cover is False


def test_relationship_facts(db):
    today = timezone.localdate()
    client = ClientFactory()
    ContactMomentFactory(client=client, occurred_at=timezone.now() - timedelta(days=100))
    ContactMomentFactory(client=client, occurred_at=timezone.now() - timedelta(days=12))
    ComplaintFactory(client=client, received_on=today - timedelta(days=45))
    ComplaintFactory(client=client, received_on=today - timedelta(days=10))
    facts = derive(client)
    assert facts.days_since_last_contact == 12
    assert facts.open_complaints_over_30_days == 1
    assert facts.open_data_conflicts == 0


def test_a_value_too_large_to_store_becomes_unknown_and_the_rest_is_written(db):
    # € 0.10 of income against € 20,929.44 of AOW: a ratio of 209,294 does not fit the column.
    tiny = ClientFactory(marital_status=MaritalStatus.SINGLE)
    IncomeFactory(client=tiny, gross_annual_amount=Decimal("0.10"))
    facts = derive(tiny)
    assert facts.replacement_ratio is None
    assert facts.unknown["replacement_ratio"].startswith("the derived value is outside what can be stored")
    assert facts.gross_income == Decimal("0.10")


def test_a_child_born_in_the_future_counts_as_a_missing_birth_date(db):
    client = ClientFactory(marital_status=MaritalStatus.SINGLE)
    FamilyMemberFactory(household=client.household, birth_date=timezone.localdate() + timedelta(days=30))
    facts = derive(client)
    assert facts.children_count == 1
    assert facts.youngest_child_age is None
    assert facts.unknown["youngest_child_age"] == "a child's birth date is missing"
