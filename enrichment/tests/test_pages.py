"""The 360° page: derived values with "derived by X at T", unknown ones with their reason, and what
the client told us; the confirmation pages of back office."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clients.provenance import CLIENT, Provenance
from clients.tests.factories import ClientFactory, IncomeFactory, full_client_file
from enrichment.models import ClientFacts

from .conftest import derive

pytestmark = pytest.mark.django_db


def fact_html(html: str, fact: str) -> str:
    start = html.index(f'data-fact="{fact}"')
    return html[start : html.index("</dd>", start)]


def test_derived_values_show_with_their_provenance(client, advisor):
    person = full_client_file(team=advisor.team, advisor=advisor)
    derive(person)
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    age = fact_html(html, "age")
    assert f"{person.age} years" in age
    assert re.search(r'title="Derived by Age at [^"]+"', age)
    assert "Derived by Mortgage at" in fact_html(html, "days_to_fixed_rate_end")
    assert "provisional" in fact_html(html, "state_pension_date")


def test_an_unknown_derived_value_shows_its_reason(client, advisor):
    person = ClientFactory(team=advisor.team, birth_date=None)
    derive(person)
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    age = fact_html(html, "age")
    assert 'data-unknown="true"' in age and "no birth date" in age
    assert "no mortgage" in fact_html(html, "loan_to_value")


def test_a_derived_value_older_than_its_provider_allows_is_flagged(client, advisor):
    person = ClientFactory(team=advisor.team)
    derive(person)
    ClientFacts.objects.filter(client=person).update(computed_at=timezone.now() - timedelta(days=3))
    facts = ClientFacts.objects.get(client=person)
    old = (timezone.now() - timedelta(days=3)).isoformat()
    facts.provenance = {fact: {**entry, "at": old} for fact, entry in facts.provenance.items()}
    facts.save()
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    assert "value-stale" in fact_html(html, "age")  # age: at most a day old
    assert "value-stale" not in fact_html(html, "has_life_cover")  # insurance: a week


def test_before_the_first_refresh_the_page_says_so(client, advisor):
    person = ClientFactory(team=advisor.team)
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    assert "Not derived yet" in html


def test_what_the_client_told_us_lists_their_own_answers_with_the_date(client, advisor):
    person = ClientFactory(team=advisor.team)
    answered = timezone.now() - timedelta(days=2)
    IncomeFactory(
        client=person,
        provenance={
            "gross_annual_amount": Provenance(source=CLIENT, record_id="client-1", changed_at=answered).to_json()
        },
    )
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    table = html[html.index('data-testid="client-answers"') :]
    assert "Income: gross per year" in table[:600]
    assert 'data-field="Income.gross_annual_amount" data-source="client"' in html


def test_the_360_page_query_count_stays_fixed_with_derived_values(client, advisor):
    small = full_client_file(team=advisor.team, products=1)
    large = full_client_file(team=advisor.team, products=6)
    derive(small)
    derive(large)
    client.force_login(advisor)
    client.get(reverse("clients:detail", args=[small.pk]))

    def count(client_id):
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("clients:detail", args=[client_id]))
        return len(queries)

    assert count(small.pk) == count(large.pk)


def test_back_office_sees_the_send_button_advisors_do_not(client, advisor, back_office):
    person = ClientFactory(team=advisor.team)
    client.force_login(advisor)
    assert "Ask the client to confirm" not in client.get(reverse("clients:detail", args=[person.pk])).content.decode()
    client.force_login(back_office)
    assert "Ask the client to confirm" in client.get(reverse("clients:detail", args=[person.pk])).content.decode()
