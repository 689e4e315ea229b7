"""factory_boy factories for the unified client view: realistic, valid rows with provenance."""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Team
from clients import models


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = "Team Noord"


class SourcedFactory(factory.django.DjangoModelFactory):
    source = "crm"
    source_record_id = factory.Sequence(lambda n: f"rec-{n}")
    source_changed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    fetched_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))


class HouseholdFactory(SourcedFactory):
    class Meta:
        model = models.Household

    name = "Huishouden De Vries"


class ClientFactory(SourcedFactory):
    class Meta:
        model = models.Client

    first_name = "Sanne"
    last_name_prefix = "de"
    last_name = factory.Sequence(lambda n: f"Vries{n:04d}")
    birth_date = date(1980, 5, 17)
    gender = models.Gender.FEMALE
    email = factory.Sequence(lambda n: f"sanne{n}@example.nl")
    phone = "+31612345678"
    street = "Keizersgracht"
    house_number = "12"
    postcode = "1015 CJ"
    city = "Amsterdam"
    team = factory.SubFactory(TeamFactory)
    household = factory.SubFactory(HouseholdFactory)


class FamilyMemberFactory(SourcedFactory):
    class Meta:
        model = models.FamilyMember

    household = factory.SubFactory(HouseholdFactory)
    relation = models.FamilyMember.Relation.CHILD
    first_name = "Daan"
    birth_date = date(2015, 3, 1)


class EmploymentFactory(SourcedFactory):
    class Meta:
        model = models.Employment

    client = factory.SubFactory(ClientFactory)
    kind = models.Employment.Kind.EMPLOYED
    employer = "Gemeente Amsterdam"
    job_title = "Beleidsadviseur"


class IncomeFactory(SourcedFactory):
    class Meta:
        model = models.Income

    client = factory.SubFactory(ClientFactory)
    kind = models.Income.Kind.SALARY
    gross_annual_amount = Decimal("58000.00")


class PropertyFactory(SourcedFactory):
    class Meta:
        model = models.Property

    client = factory.SubFactory(ClientFactory)
    street = "Keizersgracht"
    house_number = "12"
    postcode = "1015 CJ"
    city = "Amsterdam"
    market_value = Decimal("525000")
    market_value_date = date(2025, 6, 1)
    woz_value = Decimal("498000")
    woz_year = 2026
    rebuild_value = Decimal("410000")


class MortgageFactory(SourcedFactory):
    class Meta:
        model = models.Mortgage

    client = factory.SubFactory(ClientFactory)
    property = factory.SubFactory(PropertyFactory, client=factory.SelfAttribute("..client"))
    lender = "Rabobank"
    loan_number = factory.Sequence(lambda n: f"HYP-{n:06d}")


class LoanPartFactory(SourcedFactory):
    class Meta:
        model = models.LoanPart

    mortgage = factory.SubFactory(MortgageFactory)
    part_number = factory.Sequence(lambda n: n % 3 + 1)
    repayment_type = models.RepaymentType.ANNUITY
    principal = Decimal("300000")
    outstanding_balance = Decimal("240000")
    interest_rate = Decimal("3.850")
    fixed_rate_end_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=10))


class InsurancePolicyFactory(SourcedFactory):
    class Meta:
        model = models.InsurancePolicy

    client = factory.SubFactory(ClientFactory)
    kind = models.InsurancePolicy.Kind.HOME
    insurer = "Centraal Beheer"
    insured_amount = Decimal("350000")
    premium = Decimal("32.50")


class PensionFactory(SourcedFactory):
    class Meta:
        model = models.Pension

    client = factory.SubFactory(ClientFactory)
    kind = models.Pension.Kind.EMPLOYER
    provider = "ABP"
    accrued_annual_pension = Decimal("9800")
    projected_annual_pension = Decimal("21000")


class AssetFactory(SourcedFactory):
    class Meta:
        model = models.Asset

    client = factory.SubFactory(ClientFactory)
    kind = models.Asset.Kind.SAVINGS
    institution = "ING"
    balance = Decimal("12500.50")


class ConsumerLoanFactory(SourcedFactory):
    class Meta:
        model = models.ConsumerLoan

    client = factory.SubFactory(ClientFactory)
    kind = models.ConsumerLoan.Kind.CAR
    lender = "Santander"
    outstanding_balance = Decimal("8200")


class ContactPreferenceFactory(SourcedFactory):
    class Meta:
        model = models.ContactPreference

    client = factory.SubFactory(ClientFactory)
    purpose = models.Purpose.ADVICE
    channel = models.Channel.EMAIL
    consent = models.ContactPreference.Consent.GRANTED
    preferred = True


class ContactMomentFactory(SourcedFactory):
    class Meta:
        model = models.ContactMoment

    client = factory.SubFactory(ClientFactory)
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=40))
    channel = models.Channel.PHONE
    direction = models.ContactMoment.Direction.INBOUND
    subject = "Vraag over rentevaste periode"
    staff_name = "Anouk de Vries"


class AgreementFactory(SourcedFactory):
    class Meta:
        model = models.Agreement

    client = factory.SubFactory(ClientFactory)
    description = "Jaarlijks adviesgesprek inplannen"
    agreed_on = date(2026, 1, 15)
    due_date = date(2026, 12, 1)


class ComplaintFactory(SourcedFactory):
    class Meta:
        model = models.Complaint

    client = factory.SubFactory(ClientFactory)
    received_on = date(2026, 9, 1)
    subject = "Late reactie op vraag"


class MissedPaymentFactory(SourcedFactory):
    class Meta:
        model = models.MissedPayment

    client = factory.SubFactory(ClientFactory)
    product = models.MissedPayment.Product.MORTGAGE
    due_date = date(2026, 10, 1)
    amount = Decimal("1245.00")


def full_client_file(*, team=None, products: int = 1, **client_fields) -> models.Client:
    """A client with every kind of row the 360° page shows, `products` of each repeating kind."""
    client = ClientFactory(**({"team": team} if team else {}), **client_fields)
    FamilyMemberFactory(household=client.household)
    FamilyMemberFactory(household=client.household, relation=models.FamilyMember.Relation.PARTNER, first_name="Bas")
    employment = EmploymentFactory(client=client)
    IncomeFactory(client=client, employment=employment)
    ContactPreferenceFactory(client=client)
    for _ in range(products):
        mortgage = MortgageFactory(client=client)
        LoanPartFactory(mortgage=mortgage)
        LoanPartFactory(mortgage=mortgage, repayment_type=models.RepaymentType.INTEREST_ONLY)
        InsurancePolicyFactory(client=client, property=mortgage.property)
        PensionFactory(client=client)
        AssetFactory(client=client)
        ConsumerLoanFactory(client=client)
        ContactMomentFactory(client=client)
        AgreementFactory(client=client)
        ComplaintFactory(client=client)
        MissedPaymentFactory(client=client)
    return client
