"""The advisor's dashboard: my alerts in priority order, filters, counts and bulk actions."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from alerts.models import Alert, AlertType, Quadrant
from clients.tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def make_alert(client, key="fixed_rate_ending", *, priority=50, quadrant=Quadrant.URGENT_SENSITIVE, due=None, **fields):
    alert_type, _ = AlertType.objects.get_or_create(key=key, defaults={"name": key.replace("_", " ").capitalize()})
    return Alert.objects.create(
        alert_type=alert_type,
        client=client,
        team=client.team,
        assigned_to=client.advisor,
        priority=priority,
        quadrant=quadrant,
        due_date=due,
        message=f"{key} for {client.first_name}",
        **fields,
    )


@pytest.fixture
def book(advisor, advisor_other_team):
    mine = [
        ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name=name)
        for name in ("Anna", "Bas", "Cor")
    ]
    theirs = ClientFactory(team=advisor_other_team.team, advisor=advisor_other_team, household=None, first_name="Zuid")
    today = timezone.localdate()
    return {
        "urgent": make_alert(mine[0], priority=90, due=today + timedelta(days=5)),
        "urgent_later": make_alert(mine[1], priority=90, due=today + timedelta(days=40)),
        "pension": make_alert(mine[2], "pension_gap", priority=20, quadrant=Quadrant.LATER_SENSITIVE),
        "theirs": make_alert(theirs, priority=99),
    }


def rows(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-alert="(\d+)"', response.content.decode())]


def test_an_advisor_lands_on_the_dashboard(client, advisor):
    client.force_login(advisor)
    assert client.get("/").url == reverse("alerts:dashboard")


def test_my_alerts_come_in_priority_then_due_date_order_and_never_another_teams(client, advisor, book):
    client.force_login(advisor)
    assert rows(client.get(reverse("alerts:dashboard"))) == [
        book["urgent"].pk,
        book["urgent_later"].pk,
        book["pension"].pk,
    ]


def test_the_quadrant_counts_and_filters_follow(client, advisor, book):
    client.force_login(advisor)
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert re.search(r'data-testid="count-urgent_sensitive">2<', html)
    assert re.search(r'data-testid="count-later_sensitive">1<', html)
    filtered = client.get(reverse("alerts:dashboard"), {"alert_type": "pension_gap"})
    assert rows(filtered) == [book["pension"].pk]
    assert rows(client.get(reverse("alerts:dashboard"), {"due": "14"})) == [book["urgent"].pk]


def test_the_filters_answer_with_the_queue_only_for_htmx(client, advisor, book):
    client.force_login(advisor)
    response = client.get(
        reverse("alerts:dashboard"),
        {"quadrant": "later_sensitive"},
        headers={"HX-Request": "true", "HX-Target": "alert-queue"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="alert-queue">')
    assert rows(response) == [book["pension"].pk]


def test_snooze_and_resolve_from_the_dashboard_and_the_counts_follow(client, advisor, book):
    client.force_login(advisor)
    until = (timezone.localdate() + timedelta(days=10)).isoformat()
    client.post(reverse("alerts:bulk"), {"action": "snooze", "alert_ids": [book["urgent"].pk], "until": until})
    client.post(reverse("alerts:bulk"), {"action": "resolve", "alert_ids": [book["pension"].pk], "reason": "Plan made"})
    book["urgent"].refresh_from_db()
    book["pension"].refresh_from_db()
    assert book["urgent"].status == "snoozed" and book["urgent"].snoozed_until == date.fromisoformat(until)
    assert book["pension"].status == "resolved"
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert re.search(r'data-testid="count-later_sensitive">0<', html)


def test_a_bulk_action_never_touches_another_teams_alert(client, advisor, book):
    client.force_login(advisor)
    client.post(reverse("alerts:bulk"), {"action": "resolve", "alert_ids": [book["theirs"].pk, book["urgent"].pk]})
    book["theirs"].refresh_from_db()
    assert book["theirs"].status == "open"
    assert Alert.objects.get(pk=book["urgent"].pk).status == "resolved"


def test_another_teams_alert_page_is_not_found(client, advisor, book):
    client.force_login(advisor)
    assert client.get(reverse("alerts:detail", args=[book["theirs"].pk])).status_code == 404
    assert client.get(reverse("alerts:detail", args=[book["urgent"].pk])).status_code == 200


def test_the_queue_pages_by_keyset_without_repeating(client, advisor):
    clients = [ClientFactory(team=advisor.team, advisor=advisor, household=None) for _ in range(60)]
    for index, person in enumerate(clients):
        make_alert(
            person, priority=index % 3, due=None if index % 4 == 0 else timezone.localdate() + timedelta(days=index % 7)
        )
    client.force_login(advisor)
    first = client.get(reverse("alerts:dashboard"))
    cursor = re.search(r'rel="next" href="\?[^"]*after=([^"&]+)', first.content.decode()).group(1)
    second = client.get(reverse("alerts:dashboard"), {"after": cursor})
    seen = rows(first) + rows(second)
    assert len(seen) == 60 == len(set(seen))
    alerts = Alert.objects.in_bulk(seen)
    expected = sorted(seen, key=lambda pk: (-alerts[pk].priority, alerts[pk].due_date is None, alerts[pk].due_date, pk))
    assert seen == expected  # highest priority first, soonest due next, alerts without a due date last


def test_the_client_page_lists_the_clients_alerts(client, advisor, book):
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[book["urgent"].client_id])).content.decode()
    assert 'data-testid="client-alerts"' in html and "fixed_rate_ending for Anna" in html


def test_new_urgent_alerts_show_as_a_badge_until_the_dashboard_is_seen(client, advisor, book):
    client.force_login(advisor)
    assert re.search(r'data-testid="badge-alerts"[^>]*>2<', client.get(reverse("clients:list")).content.decode())
    client.get(reverse("alerts:dashboard"))
    assert 'data-testid="badge-alerts"' not in client.get(reverse("clients:list")).content.decode()


def test_the_badge_stops_counting_at_its_cap(client, advisor, book, monkeypatch):
    monkeypatch.setattr("alerts.selectors.BADGE_CAP", 1)  # 99 in use; two urgent alerts in the book
    client.force_login(advisor)
    assert re.search(r'data-testid="badge-alerts"[^>]*>1\+<', client.get(reverse("clients:list")).content.decode())


def test_a_cursor_that_is_not_the_queues_starts_from_the_first_page(client, advisor, book):
    client.force_login(advisor)
    first = rows(client.get(reverse("alerts:dashboard")))
    for cursor in ("nonsense", "90_x_1", "90.2026-01-01.1", "1_2_3_4"):
        assert rows(client.get(reverse("alerts:dashboard"), {"after": cursor})) == first


def test_large_ids_are_written_without_thousand_separators(client, advisor):
    person = ClientFactory(team=advisor.team, advisor=advisor, household=None)
    alert = make_alert(person, id=123456)
    client.force_login(advisor)
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert f'value="{alert.pk}"' in html and 'data-alert="123456"' in html


def test_cached_quadrant_counts_follow_an_action_at_once(
    client, advisor, book, settings, django_capture_on_commit_callbacks
):
    # As in production: the counts come from the cache, and every write to alerts starts a new generation.
    from django.core.cache import cache

    settings.STEWARD_ALERT_COUNTS_CACHE_SECONDS = 60
    cache.clear()
    client.force_login(advisor)
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert re.search(r'data-testid="count-urgent_sensitive">2<', html)
    Alert.objects.filter(pk=book["urgent_later"].pk).update(quadrant=Quadrant.LATER_ROUTINE)  # not a service
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert re.search(r'data-testid="count-urgent_sensitive">2<', html)  # cached: a minute at most
    with django_capture_on_commit_callbacks(execute=True):  # the generation moves on at the commit
        client.post(reverse("alerts:bulk"), {"action": "resolve", "alert_ids": [book["urgent"].pk]})
    html = client.get(reverse("alerts:dashboard")).content.decode()
    assert re.search(r'data-testid="count-urgent_sensitive">0<', html)
    assert re.search(r'data-testid="count-later_routine">1<', html)
    cache.clear()


def test_a_team_leads_filters_show_the_team_scope_the_page_opens_with(client, team):
    from accounts.services import user_create

    lead = user_create(username="lotte", password="x-unused-9f2c", role="Advisor", team=team, is_team_lead=True)
    client.force_login(lead)
    page = client.get(reverse("alerts:dashboard"))
    assert page.context["filters"].scope == "team"
    assert page.context["form"]["scope"].value() == "team"
    assert re.search(r'<option value="team"\s+selected>', page.content.decode())


def test_a_row_links_labels_and_shortens_as_the_built_in_tags_would(client, advisor, book):
    from django.utils.text import Truncator
    from django.utils.translation import override

    alert = book["urgent"]
    alert.message = "Rentevaste periode eindigt & de klant <moet> kiezen: " * 5
    alert.save(update_fields=["message"])
    client.force_login(advisor)
    html = client.get(reverse("alerts:dashboard")).content.decode()
    row = html[html.index(f'<tr data-alert="{alert.pk}"') :].split("</tr>")[0]
    assert f'href="{reverse("clients:detail", args=[alert.client_id])}"' in row
    assert f'href="{reverse("alerts:detail", args=[alert.pk])}"' in row
    shortened = Truncator(alert.message).chars(140)
    assert escape(shortened) in row and len(shortened) == 140
    assert 'aria-label="Tick the alert of Anna ' in row
    with override("nl"):
        client.cookies["django_language"] = "nl"
        dutch = client.get(reverse("alerts:dashboard"), headers={"Accept-Language": "nl"}).content.decode()
    assert 'aria-label="Vink het signaal van Anna ' in dutch


def test_a_row_shows_segment_snooze_missing_due_date_and_nobody_assigned_escaped(client, advisor):
    from django.utils.translation import override

    person = ClientFactory(
        team=advisor.team,
        advisor=advisor,
        household=None,
        first_name="<b>Eva</b>",
        last_name_prefix="van",
        last_name="Dijk",
    )
    alert = make_alert(
        person,
        segment="55–67 <jaar>",
        status=Alert.Status.SNOOZED,
        snoozed_until=date(2026, 12, 15),
    )
    Alert.objects.filter(pk=alert.pk).update(assigned_to=None)
    client.force_login(advisor)
    client.cookies["django_language"] = "nl"
    html = client.get(reverse("alerts:dashboard"), {"scope": "team"}).content.decode()
    row = html[html.index(f'<tr data-alert="{alert.pk}"') :].split("</tr>")[0]
    assert "&lt;b&gt;Eva&lt;/b&gt; van Dijk</a>" in row and "<b>" not in row
    assert '<span class="badge text-bg-light border">55–67 &lt;jaar&gt;</span>' in row
    assert '<td class="text-nowrap">–</td>' in row  # no due date
    with override("nl"):
        snoozed = str(Alert.Status.SNOOZED.label)
    assert f'<td>{snoozed}<div class="small text-muted">tot 15-12-2026</div></td>' in row
    assert row.rstrip().endswith("<td>–</td>")  # nobody assigned


def test_a_page_of_the_dashboard_costs_the_same_queries_for_3_alerts_as_for_30(
    client, advisor, django_assert_max_num_queries
):
    def raise_for_new_clients(count):
        for _ in range(count):
            make_alert(ClientFactory(team=advisor.team, advisor=advisor, household=None))

    raise_for_new_clients(3)
    client.force_login(advisor)
    client.get(reverse("alerts:dashboard"))  # the session's first write
    with CaptureQueriesContext(connection) as three:
        assert len(rows(client.get(reverse("alerts:dashboard")))) == 3
    raise_for_new_clients(27)
    with django_assert_max_num_queries(len(three)):
        assert len(rows(client.get(reverse("alerts:dashboard")))) == 30
