"""Synthetic clients: deterministic, valid against every model rule, and shaped for the rules that alert.

Most tests read one generated book of 600 clients (module fixture `book`), made once because
generating is the slow part; the tests that generate themselves use seeds of their own.
"""

import re
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import Team, User
from accounts.services import demo_users_ensure, user_create
from clients import models as m
from clients.demo import DEMO_SEED, demo_clients_load
from clients.generation import (
    CITIES,
    NORTH,
    REGION_TEAMS,
    SOUTH,
    STATE_PENSION_SINGLE,
    WRITE_PLAN,
    books_ensure,
    clients_generate,
    generated_clients,
    record_prefix,
    state_pension_date,
)
from clients.provenance import GENERATED, Provenance
from clients.validators import normalise_phone_number

TODAY = date(2026, 11, 23)  # every date hangs off this day, so no test depends on the calendar
BOOK_SEED = 7
BOOK_SIZE = 600


def _delete_seed(seed: int) -> None:
    generated_clients(seed).delete()
    m.Household.objects.filter(source_record_id__startswith=record_prefix(seed)).delete()


@pytest.fixture(scope="module")
def book(django_db_setup, django_db_blocker):
    """600 clients of seed 7 for Team Noord (advisors Anouk and Bart) and Team Zuid (advisor Bram)."""
    with django_db_blocker.unblock():
        north = Team.objects.get_or_create(name=REGION_TEAMS[NORTH])[0]
        south = Team.objects.get_or_create(name=REGION_TEAMS[SOUTH])[0]
        advisors = [
            user_create(username="gen-anouk", password="x", role="Advisor", team=north, first_name="Anouk"),
            user_create(username="gen-bart", password="x", role="Advisor", team=north, first_name="Bart"),
            user_create(username="gen-bram", password="x", role="Advisor", team=south, first_name="Bram"),
        ]
        try:
            yield clients_generate(count=BOOK_SIZE, seed=BOOK_SEED, books=books_ensure(), today=TODAY)
        finally:
            _delete_seed(BOOK_SEED)
            User.objects.filter(pk__in=[advisor.pk for advisor in advisors]).delete()
            Team.objects.filter(pk__in=[north.pk, south.pk], clients__isnull=True, members__isnull=True).delete()


@pytest.fixture
def clients(book, db):
    return generated_clients(BOOK_SEED)


def _snapshot(seed: int) -> dict[str, list[tuple]]:
    """Every value of every generated row of a seed, apart from ids and bookkeeping times."""
    snapshot = {}
    for model, _ in WRITE_PLAN:
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if not f.primary_key and not f.is_relation and f.name not in ("created_at", "updated_at")
        ]
        snapshot[model.__name__] = list(
            model.objects.filter(source_record_id__startswith=record_prefix(seed))
            .order_by("source_record_id")
            .values_list(*names)
        )
    return snapshot


# --- Determinism and idempotence ------------------------------------------------------------------


def test_the_same_seed_gives_the_same_clients_and_products_whatever_the_batch_size(db):
    books = books_ensure()
    clients_generate(count=40, seed=11, books=books, today=TODAY)
    first = _snapshot(11)
    _delete_seed(11)

    clients_generate(count=40, seed=11, books=books, today=TODAY, batch_size=7)

    assert _snapshot(11) == first
    assert first["LoanPart"] and first["InsurancePolicy"] and first["ContactMoment"]


def test_another_seed_gives_other_people(db):
    books = books_ensure()
    clients_generate(count=20, seed=12, books=books, today=TODAY)
    clients_generate(count=20, seed=13, books=books, today=TODAY)

    def names(seed):
        return list(generated_clients(seed).order_by("source_record_id").values_list("first_name", "last_name"))

    assert names(12) != names(13)


def test_generates_exactly_the_number_of_clients_asked_for(db):
    report = clients_generate(count=25, seed=14, books=books_ensure(), today=TODAY)

    assert report.clients == 25
    assert generated_clients(14).count() == 25
    assert not generated_clients(14).filter(household__isnull=True).exists()


def test_running_again_adds_only_the_missing_clients(db):
    books = books_ensure()
    clients_generate(count=20, seed=15, books=books, today=TODAY)
    first_twenty = set(generated_clients(15).values_list("source_record_id", flat=True))

    again = clients_generate(count=20, seed=15, books=books, today=TODAY)
    topped_up = clients_generate(count=30, seed=15, books=books, today=TODAY)

    assert again.clients == 0 and again.existing_clients == 20
    assert topped_up.clients == 10
    record_ids = list(generated_clients(15).values_list("source_record_id", flat=True))
    assert len(record_ids) == len(set(record_ids)) == 30
    assert first_twenty <= set(record_ids)


def test_the_query_count_does_not_grow_with_the_number_of_clients(db):
    """Apart from the bulk INSERTs, which SQLite splits at its parameter limit, the same queries
    run for 30 clients as for 300, and every INSERT (or COPY) writes many rows at once."""
    books = books_ensure()

    def queries_for(count, seed):
        with CaptureQueriesContext(connection) as captured:
            report = clients_generate(count=count, seed=seed, books=books, today=TODAY, batch_size=1000)
        sql = [query["sql"] for query in captured.captured_queries]
        # Bulk writes, and on PostgreSQL the ids reserved for them (one query per parent table).
        writes = [q for q in sql if q.startswith(("INSERT", "COPY")) or "nextval" in q]
        others = [q for q in sql if q not in writes]
        return report, writes, others

    _, _, small_others = queries_for(30, 16)
    large, large_writes, large_others = queries_for(300, 17)

    assert len(large_others) == len(small_others)
    assert large.total_rows / len(large_writes) >= 20
    assert len(large_writes) < large.clients / 2


# --- Valid against every model rule ---------------------------------------------------------------


def test_every_kind_of_row_is_generated_and_passes_model_validation(clients):
    for model, _ in WRITE_PLAN:
        rows = model.objects.filter(source_record_id__startswith=record_prefix(BOOK_SEED)).order_by("pk")
        assert rows.exists(), model.__name__
        for row in rows[:40]:
            # Employment.permanent_contract is null=True without blank=True, so full_clean refuses
            # the None that "not applicable" (retired, self-employed) needs; see the report.
            row.full_clean(exclude=["permanent_contract"])


def test_clients_have_dutch_names_postcodes_of_their_city_and_valid_contact_details(clients):
    postcode_ranges = {city[0]: (city[1], city[2]) for city in CITIES}
    for client in clients:
        assert re.fullmatch(r"[1-9][0-9]{3} [A-Z]{2}", client.postcode)
        low, high = postcode_ranges[client.city]
        assert low <= int(client.postcode[:4]) <= high
        if client.phone:
            assert client.phone == normalise_phone_number(client.phone)
            assert client.phone.startswith("+31")
        if client.email:
            assert client.email.endswith(("@example.com", "@example.net", "@example.org"))
        assert client.search_name == client.build_search_name()
        assert 18 <= client.age_on(TODAY) <= 90
        assert client.bsn is None
        assert client.client_since <= TODAY
    prefixes = set(clients.values_list("last_name_prefix", flat=True))
    assert {"", "de", "van", "van der", "van den"} <= prefixes
    assert clients.filter(phone__startswith="+316").count() > clients.filter(phone="").count()
    for field in ("gender", "education_level", "marital_status", "segment"):
        assert clients.values(field).distinct().count() >= 3, field


def test_clients_are_split_over_the_teams_by_postcode_and_over_each_teams_advisors(clients):
    north, south = Team.objects.get(name="Team Noord"), Team.objects.get(name="Team Zuid")
    assert not clients.filter(team=south).exclude(postcode__regex=r"^[456]").exists()
    assert not clients.filter(team=north).filter(postcode__regex=r"^[456]").exists()
    assert clients.filter(team=south).count() > BOOK_SIZE / 10
    north_advisors = set(clients.filter(team=north).values_list("advisor__username", flat=True))
    assert north_advisors == {"gen-anouk", "gen-bart"}
    assert set(clients.filter(team=south).values_list("advisor__username", flat=True)) == {"gen-bram"}


def test_some_households_have_two_clients_who_are_partners_and_many_have_children(clients):
    households = m.Household.objects.filter(source_record_id__startswith=record_prefix(BOOK_SEED))
    couples_of_clients = households.annotate(members=Count("clients")).filter(members=2)
    assert couples_of_clients.count() > 20
    partner = m.FamilyMember.objects.filter(
        household=couples_of_clients.first(), relation=m.FamilyMember.Relation.PARTNER
    ).get()
    assert partner.client.household_id == partner.household_id
    assert households.filter(family_members__relation="partner", family_members__client__isnull=True).exists()
    with_children = households.filter(family_members__relation="child").distinct().count()
    assert 0.3 < with_children / households.count() < 0.8
    for child in m.FamilyMember.objects.filter(household__in=households, relation="child")[:100]:
        assert child.birth_date <= TODAY


# --- Shaped for the rules -------------------------------------------------------------------------


def test_some_fixed_rate_periods_end_within_14_days_and_more_within_six_months(clients):
    parts = m.LoanPart.objects.filter(mortgage__client__in=clients, fixed_rate_end_date__isnull=False)
    within_14_days = parts.filter(fixed_rate_end_date__range=(TODAY, TODAY + timedelta(days=14))).count()
    within_6_months = parts.filter(fixed_rate_end_date__range=(TODAY, TODAY + timedelta(days=183))).count()
    assert within_14_days >= 5
    assert within_6_months >= 2 * within_14_days
    assert parts.filter(fixed_rate_end_date__gt=TODAY + timedelta(days=5 * 365)).count() > within_6_months
    assert not parts.filter(fixed_rate_end_date__gt=F("end_date")).exists()


def test_mortgages_have_one_to_three_parts_of_every_repayment_type_and_some_have_nhg(clients):
    mortgages = m.Mortgage.objects.filter(client__in=clients).annotate(parts=Count("loan_parts"))
    assert set(mortgages.values_list("parts", flat=True)) == {1, 2, 3}
    repayment_types = set(m.LoanPart.objects.filter(mortgage__in=mortgages).values_list("repayment_type", flat=True))
    assert repayment_types == {"annuity", "linear", "interest_only", "savings", "investment"}
    assert 0 < mortgages.filter(nhg=True).count() < mortgages.count()
    for part in m.LoanPart.objects.filter(mortgage__in=mortgages)[:200]:
        assert Decimal(0) <= part.outstanding_balance <= part.principal
        assert Decimal("0.5") <= part.interest_rate <= Decimal("9")


def test_some_interest_only_parts_run_past_the_state_pension_age(clients):
    parts = m.LoanPart.objects.filter(
        mortgage__client__in=clients, repayment_type=m.RepaymentType.INTEREST_ONLY
    ).select_related("mortgage__client")
    past_pension = [part for part in parts if part.end_date > state_pension_date(part.mortgage.client.birth_date)]
    assert len(past_pension) >= 5


def test_some_homes_are_insured_below_their_rebuild_value(clients):
    home_policies = m.InsurancePolicy.objects.filter(
        client__in=clients, kind=m.InsurancePolicy.Kind.HOME, property__isnull=False
    )
    under_insured = home_policies.filter(insured_amount__lt=F("property__rebuild_value")).count()
    assert under_insured >= 5
    assert under_insured < home_policies.count() / 3


def test_some_clients_with_a_mortgage_and_dependants_have_no_life_cover(clients):
    life_cover = m.InsurancePolicy.objects.filter(
        client=OuterRef("pk"), kind__in=[m.InsurancePolicy.Kind.LIFE, m.InsurancePolicy.Kind.TERM_LIFE]
    )
    children_at_home = m.FamilyMember.objects.filter(
        household=OuterRef("household"), relation=m.FamilyMember.Relation.CHILD, lives_at_home=True
    )
    exposed = clients.filter(mortgages__isnull=False).filter(Exists(children_at_home)).exclude(Exists(life_cover))
    covered = clients.filter(mortgages__isnull=False).filter(Exists(children_at_home)).filter(Exists(life_cover))
    assert exposed.distinct().count() >= 3
    assert covered.distinct().count() > exposed.distinct().count()


def test_some_working_clients_face_a_pension_gap(clients):
    """Projected pension plus state pension well below 70% of today's income."""
    working = clients.filter(incomes__kind__in=["salary", "business"]).annotate(
        income=Sum("incomes__gross_annual_amount", filter=Q(incomes__kind__in=["salary", "business"]))
    )
    projected = dict(
        m.Pension.objects.filter(client__in=working)
        .values_list("client")
        .annotate(total=Sum("projected_annual_pension"))
    )
    gaps = [
        client
        for client in working
        if projected.get(client.pk, 0) + STATE_PENSION_SINGLE < Decimal("0.6") * client.income
    ]
    assert len(gaps) >= 10
    assert len(gaps) < working.count() / 2
    assert m.Pension.objects.filter(client__in=clients, kind=m.Pension.Kind.EMPLOYER, accrued_annual_pension__gt=0)


def test_every_kind_of_policy_asset_loan_and_income_occurs(clients):
    def kinds(model):
        return set(model.objects.filter(client__in=clients).values_list("kind", flat=True))

    assert kinds(m.InsurancePolicy) == set(m.InsurancePolicy.Kind.values)
    assert kinds(m.Asset) == set(m.Asset.Kind.values)
    assert kinds(m.ConsumerLoan) == set(m.ConsumerLoan.Kind.values)
    assert kinds(m.Employment) == set(m.Employment.Kind.values)
    assert kinds(m.Income) >= {"salary", "business", "pension", "benefit"}
    assert kinds(m.Property) >= {"house", "apartment"}


def test_each_client_has_exactly_one_preferred_channel_and_consented_to_it(clients):
    preferred = m.ContactPreference.objects.filter(client__in=clients, preferred=True)
    assert preferred.count() == clients.count()
    assert preferred.values("client").distinct().count() == clients.count()
    assert not preferred.exclude(consent=m.ContactPreference.Consent.GRANTED).exists()
    assert m.ContactPreference.objects.filter(client__in=clients, consent="refused", purpose="commercial").exists()


def test_some_clients_have_not_been_contacted_for_over_a_year(clients):
    year_ago = TODAY - timedelta(days=365)
    last_contact = clients.annotate(last=Max("contact_moments__occurred_at"))
    silent = [client for client in last_contact if client.last is None or client.last.date() < year_ago]
    assert BOOK_SIZE * 0.03 < len(silent) < BOOK_SIZE * 0.3
    assert not m.ContactMoment.objects.filter(client__in=clients, occurred_at__date__gte=TODAY).exists()


def test_some_complaints_have_been_open_for_more_than_30_days(clients):
    complaints = m.Complaint.objects.filter(client__in=clients)
    open_statuses = [m.Complaint.Status.OPEN, m.Complaint.Status.IN_PROGRESS]
    assert complaints.filter(status__in=open_statuses, received_on__lt=TODAY - timedelta(days=30)).exists()
    assert complaints.filter(status=m.Complaint.Status.RESOLVED, resolved_on__gte=F("received_on")).exists()
    assert m.MissedPayment.objects.filter(client__in=clients, paid_on__isnull=True).exists()
    assert m.Agreement.objects.filter(client__in=clients, status="open", due_date__lt=TODAY).exists()


# --- Provenance -----------------------------------------------------------------------------------


def test_every_row_says_where_it_comes_from_and_some_values_are_years_old(clients):
    prefix = record_prefix(BOOK_SEED)
    for model, _ in WRITE_PLAN:
        rows = model.objects.filter(source_record_id__startswith=prefix)
        assert not rows.exclude(source=GENERATED).exists(), model.__name__
        assert not rows.filter(Q(fetched_at__isnull=True) | Q(source_changed_at__isnull=True)).exists()
        assert not rows.filter(source_changed_at__gt=F("fetched_at")).exists(), model.__name__
    ages = [
        (TODAY - changed.date()).days
        for changed in m.InsurancePolicy.objects.filter(client__in=clients).values_list("source_changed_at", flat=True)
    ]
    stale = sum(age > 3 * 365 for age in ages) / len(ages)
    fresh = sum(age <= 365 for age in ages) / len(ages)
    assert 0.02 < stale < 0.2
    assert fresh > 0.5


def test_some_values_come_from_another_source_than_their_row(clients):
    incomes = m.Income.objects.filter(client__in=clients).exclude(provenance={})
    assert incomes.count() >= 10
    income = incomes.first()
    origin = income.provenance_for("gross_annual_amount")
    assert origin == Provenance.from_json(income.provenance["gross_annual_amount"])
    assert origin.source not in ("", GENERATED)
    assert origin.changed_at is not None and origin.changed_at <= origin.fetched_at
    assert income.provenance_for("kind").source == GENERATED
    assert m.Pension.objects.filter(client__in=clients, provenance__has_key="projected_annual_pension").exists()


# --- The demo and the command ---------------------------------------------------------------------


def test_the_demo_load_gives_each_demo_advisor_their_teams_clients_and_is_safe_to_run_twice(db, settings):
    settings.STEWARD_DEMO_CLIENTS = 60
    demo_users_ensure(password="demo-password-1")
    first, second = StringIO(), StringIO()

    demo_clients_load(stdout=first)
    demo_clients_load(stdout=second)

    demo = generated_clients(DEMO_SEED)
    assert demo.count() == 60
    assert set(demo.filter(team__name="Team Noord").values_list("advisor__username", flat=True)) == {"advisor"}
    assert set(demo.filter(team__name="Team Zuid").values_list("advisor__username", flat=True)) == {"advisor2"}
    assert "60 created" in first.getvalue()
    assert "already loaded" in second.getvalue()

    settings.STEWARD_DEMO_CLIENTS = 70
    demo_clients_load(stdout=StringIO())
    assert demo.count() == 70


def test_generate_clients_reports_what_it_created_and_how_fast(db):
    out = StringIO()
    call_command("generate_clients", count=12, seed=18, today=TODAY, stdout=out)

    output = out.getvalue()
    assert "Created 12 clients" in output
    assert "clients/s" in output and "rows/s" in output
    assert generated_clients(18).count() == 12
    assert Team.objects.filter(name__in=["Team Noord", "Team Zuid"]).count() == 2
