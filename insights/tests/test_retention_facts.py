"""Value and churn-risk signals as facts (enrichment's retention provider), which framework rules can use."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import Client, ClientRevenue
from clients.tests.factories import ClientFactory, ComplaintFactory, ContactMomentFactory, InsurancePolicyFactory
from enrichment.models import ClientFacts
from enrichment.services import facts_refresh
from framework.language import OrmCompiler, compile_expression

pytestmark = pytest.mark.django_db

RULE = "facts.client_value >= 2500 and facts.churn_risk_signals >= 2"


def test_value_products_and_signals_of_a_valuable_client_about_to_leave(advisor):
    today = timezone.localdate()
    person = ClientFactory(team=advisor.team, advisor=advisor, household=None)
    ClientRevenue.objects.create(client=person, year=today.year - 1, fees=Decimal("2000"), commission=Decimal("750.50"))
    ClientRevenue.objects.create(client=person, year=today.year - 2, fees=Decimal("9999"), commission=Decimal("0"))
    InsurancePolicyFactory(client=person, end_date=today + timedelta(days=60))  # held, and ending soon
    InsurancePolicyFactory(client=person, end_date=today - timedelta(days=1))  # ended: not held
    ComplaintFactory(client=person, received_on=today - timedelta(days=5))  # open, recent
    now = timezone.now()
    for days in (200, 250, 300):  # three contacts in the half-year before, one in the last
        ContactMomentFactory(client=person, occurred_at=now - timedelta(days=days))
    ContactMomentFactory(client=person, occurred_at=now - timedelta(days=10))
    quiet = ClientFactory(team=advisor.team, advisor=advisor, household=None)

    facts_refresh()
    facts = ClientFacts.objects.get(client=person)
    assert facts.client_value == Decimal("2750.50")  # last complete year only
    assert (facts.products_held, facts.products_ending_within_90_days, facts.open_complaints) == (1, 1, 1)
    assert facts.engagement_trend == 1 - 3
    assert facts.churn_risk_signals == 3  # complaint, product ending, falling engagement (contact 10 days ago)
    nobody = ClientFacts.objects.get(client=quiet)
    assert nobody.client_value is None and "client_value" in nobody.unknown  # no revenue: unknown, not zero
    assert nobody.churn_risk_signals == 1  # only: no contact recorded

    compiler = OrmCompiler(today=today)
    condition = compiler.condition(compile_expression(RULE))
    firing = Client.objects.alias(**compiler.aliases).filter(condition)
    assert list(firing.values_list("pk", flat=True)) == [person.pk]


def test_a_client_with_revenue_in_other_years_only_is_worth_zero_last_year(advisor):
    person = ClientFactory(team=advisor.team, advisor=advisor, household=None)
    ClientRevenue.objects.create(client=person, year=date.today().year - 3, fees=Decimal("500"))
    facts_refresh()
    assert ClientFacts.objects.get(client=person).client_value == Decimal("0.00")
