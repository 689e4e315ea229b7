"""The client list and the 360° client page, as advisors and back office use them."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clients.models import ClientPageView
from clients.provenance import Provenance

from .factories import ClientFactory, IncomeFactory, TeamFactory, full_client_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def noord_client(advisor):
    return full_client_file(team=advisor.team, first_name="Sanne", last_name="Jansen", advisor=advisor)


@pytest.fixture
def zuid_client(advisor_other_team):
    return full_client_file(team=advisor_other_team.team, first_name="Pieter", last_name="Bakker")


def list_names(response) -> list[str]:
    return re.findall(r'href="/clients/\d+/">([^<]+)</a>', response.content.decode())


def list_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/clients/(\d+)/">', response.content.decode())]


# --- Access ---------------------------------------------------------------------------------------


def test_an_advisor_sees_only_their_own_teams_clients(client, advisor, noord_client, zuid_client):
    client.force_login(advisor)
    names = list_names(client.get(reverse("clients:list")))
    assert any("Jansen" in name for name in names)
    assert not any("Bakker" in name for name in names)


def test_another_teams_client_page_is_not_found(client, advisor, zuid_client):
    client.force_login(advisor)
    assert client.get(reverse("clients:detail", args=[zuid_client.pk])).status_code == 404
    assert not ClientPageView.objects.exists()


def test_another_teams_client_does_not_show_up_in_a_search(client, advisor, zuid_client):
    client.force_login(advisor)
    response = client.get(reverse("clients:list"), {"q": "Bakker"})
    assert list_names(response) == []


def test_back_office_sees_every_team(client, back_office, noord_client, zuid_client):
    client.force_login(back_office)
    names = " ".join(list_names(client.get(reverse("clients:list"))))
    assert "Jansen" in names and "Bakker" in names
    assert client.get(reverse("clients:detail", args=[zuid_client.pk])).status_code == 200


def test_each_opening_of_a_client_page_is_recorded(client, advisor, noord_client):
    client.force_login(advisor)
    client.get(reverse("clients:detail", args=[noord_client.pk]))
    client.get(reverse("clients:detail", args=[noord_client.pk]))
    views = ClientPageView.objects.filter(client=noord_client, user=advisor)
    assert views.count() == 2


def test_a_user_without_the_clients_area_is_refused(client, db, noord_client):
    from accounts.models import User

    outsider = User.objects.create_user("temp", password="x")
    client.force_login(outsider)
    assert client.get(reverse("clients:list")).status_code == 403
    assert client.get(reverse("clients:detail", args=[noord_client.pk])).status_code == 403


# --- Search, filters, pagination ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("jansen", True),
        ("Sanne", True),
        ("1015 CJ", True),
        ("1015cj", True),
        ("1015", True),
        ("17-05-1980", True),
        ("1980-05-17", True),
        ("31-02-1980", False),
        ("9999 ZZ", False),
        ("nobody", False),
    ],
)
def test_the_search_box_finds_clients_by_name_postcode_or_birth_date(client, advisor, noord_client, query, expected):
    client.force_login(advisor)
    names = list_names(client.get(reverse("clients:list"), {"q": query}))
    assert bool(names) is expected


def test_the_search_box_finds_a_client_by_email(client, advisor, noord_client):
    client.force_login(advisor)
    names = list_names(client.get(reverse("clients:list"), {"q": noord_client.email.upper()}))
    assert len(names) == 1


def test_filters_narrow_the_list_by_advisor_and_segment(client, back_office, advisor, noord_client, zuid_client):
    client.force_login(back_office)
    by_advisor = list_names(client.get(reverse("clients:list"), {"advisor": advisor.pk}))
    assert by_advisor and all("Jansen" in name for name in by_advisor)
    assert list_names(client.get(reverse("clients:list"), {"segment": "premium"})) == []
    by_team = list_names(client.get(reverse("clients:list"), {"team": zuid_client.team_id}))
    assert by_team and all("Bakker" in name for name in by_team)


def test_the_list_pages_forward_and_back_without_losing_or_repeating_anyone(client, back_office):
    team = TeamFactory()
    for index in range(120):
        ClientFactory(team=team, last_name=f"Achternaam{index % 7}", household=None)
    client.force_login(back_office)
    seen, pages, url = [], [], reverse("clients:list")
    while url:
        response = client.get(url)
        pages.append(list_ids(response))
        seen += pages[-1]
        match = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        url = reverse("clients:list") + match.group(1).replace("&amp;", "&") if match else None
    assert len(seen) == 120 == len(set(seen))
    assert [len(page) for page in pages] == [50, 50, 20]
    back = re.search(r'rel="prev" href="([^"]+)"', response.content.decode()).group(1).replace("&amp;", "&")
    assert list_ids(client.get(reverse("clients:list") + back)) == pages[1]


# --- The 360° page --------------------------------------------------------------------------------


def test_the_360_page_shows_every_group_of_the_client_file(client, advisor, noord_client):
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[noord_client.pk])).content.decode()
    for heading in (
        "Contact details",
        "Household",
        "Work and income",
        "Products",
        "Mortgages",
        "Insurance",
        "Pensions",
        "Agreements",
        "Complaints and payments",
        "Contact timeline",
    ):
        assert heading in html, heading
    for value in ("Keizersgracht", "Rabobank", "Centraal Beheer", "ABP", "Gemeente Amsterdam", "Daan", "Bas"):
        assert value in html, value
    assert "€525,000" in html  # the property's market value, in the user's locale


def test_every_displayed_value_carries_its_source_and_age(client, advisor, noord_client):
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[noord_client.pk])).content.decode()
    values = re.findall(r'<span class="sourced-value[^"]*" data-field="([^"]+)" data-source="([^"]*)"', html)
    fields = {field for field, _ in values}
    assert len(fields) > 40
    assert all(source == "crm" for _, source in values)
    # The fields an advisor relies on most are among them.
    assert {
        "Client.email",
        "LoanPart.fixed_rate_end_date",
        "Property.rebuild_value",
        "Income.gross_annual_amount",
    } <= fields
    assert html.count('class="badge provenance') >= 5


def test_a_stale_value_stands_out(client, advisor):
    stale_client = ClientFactory(team=advisor.team, source_changed_at=timezone.now() - timedelta(days=3 * 365))
    IncomeFactory(client=stale_client, source_changed_at=timezone.now() - timedelta(days=20))
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[stale_client.pk])).content.decode()
    assert re.search(r'sourced-value value-stale" data-field="Client.email"', html)
    assert not re.search(r'value-stale" data-field="Income.gross_annual_amount"', html)
    assert "stale: older than 730 days" in html


def test_a_value_won_by_another_source_names_that_source(client, advisor):
    tool_changed = timezone.now() - timedelta(days=2)
    income = IncomeFactory(
        client=ClientFactory(team=advisor.team),
        provenance={
            "gross_annual_amount": Provenance(source="advisory-tool", record_id="X1", changed_at=tool_changed).to_json()
        },
    )
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[income.client_id])).content.decode()
    assert 'data-field="Income.gross_annual_amount" data-source="advisory-tool"' in html
    assert "record X1" in html


def test_the_360_page_uses_the_same_number_of_queries_whatever_the_number_of_products(client, advisor):
    small = full_client_file(team=advisor.team, products=1)
    large = full_client_file(team=advisor.team, products=8)
    client.force_login(advisor)
    client.get(reverse("clients:detail", args=[small.pk]))  # warm up session and permission caches

    def count_queries(client_id):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("clients:detail", args=[client_id])).status_code == 200
        return len(queries)

    small_count, large_count = count_queries(small.pk), count_queries(large.pk)
    assert small_count == large_count
    assert large_count <= 30


def test_the_bsn_is_hidden_unless_the_firm_enabled_it(client, advisor, settings):
    bsn_client = ClientFactory(team=advisor.team, bsn="111222333")
    client.force_login(advisor)
    settings.STEWARD_BSN_ENABLED = False
    assert "2333" not in client.get(reverse("clients:detail", args=[bsn_client.pk])).content.decode()
    settings.STEWARD_BSN_ENABLED = True
    html = client.get(reverse("clients:detail", args=[bsn_client.pk])).content.decode()
    assert "*****2333" in html and "111222333" not in html


def test_an_admin_sees_the_bsn_unmasked_when_enabled(client, admin, settings):
    settings.STEWARD_BSN_ENABLED = True
    bsn_client = ClientFactory(bsn="111222333")
    client.force_login(admin)
    assert "111222333" in client.get(reverse("clients:detail", args=[bsn_client.pk])).content.decode()


def test_amounts_and_dates_follow_the_dutch_locale(client, advisor, noord_client):
    client.force_login(advisor)
    client.post(reverse("set_language"), {"language": "nl", "next": "/"})
    html = client.get(reverse("clients:detail", args=[noord_client.pk])).content.decode()
    assert "€ 525.000" in html
    assert "17-05-1980" in html
    assert date(1980, 5, 17).isoformat() not in html
