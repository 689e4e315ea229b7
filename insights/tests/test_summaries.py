"""The summary tables the pages read: weekly sums with digests for the medians, retention snapshots
computed by beat or on request, and the page saying how fresh its figures are."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from clients.models import ClientRevenue, Complaint
from clients.tests.factories import ClientFactory
from enrichment.services import facts_refresh
from insights.models import ResponseWeek, RetentionSnapshot
from insights.selectors import digest_median, retention_compute, retention_figures, retention_figures_json
from insights.services import DIGEST_POINTS, hours_digest, retention_snapshots_refresh

pytestmark = pytest.mark.django_db


def unpacked(packed: bytes) -> dict:
    return ResponseWeek(response_hours=packed).digest("response_hours")


def test_a_small_digest_keeps_every_value_so_its_median_is_exact():
    digest = hours_digest([10.0, 4.0, None, 2.0])
    assert unpacked(digest) == {"n": 3, "points": [2.0, 4.0, 10.0]}
    assert digest_median([digest]) == 4.0
    assert digest_median([digest, hours_digest([7.0])]) == pytest.approx(5.5)  # mean of the two middle values
    assert digest_median([hours_digest([])]) is None


def test_a_large_digest_keeps_quantiles_and_merged_medians_stay_close():
    hours = [0.5 * n for n in range(1, 1001)]  # median 250.25
    digests = [hours_digest(hours[start::7]) for start in range(7)]  # seven cells of about 143 values
    assert all(len(unpacked(digest)["points"]) == DIGEST_POINTS for digest in digests)
    assert sum(unpacked(digest)["n"] for digest in digests) == 1000
    assert digest_median(digests) == pytest.approx(250.25, rel=0.01)


def test_the_weekly_sums_follow_the_facts_of_the_history(history):
    noord = ResponseWeek.objects.filter(team=history.alerts["a1"].team, week=history.first_week)
    assert sum(row.primary_facts for row in noord) == 3 and sum(row.responded for row in noord) == 2
    email = noord.get(channel="email", segment="premium")
    assert (email.sent, email.digest("response_hours")) == (1, {"n": 1, "points": [4.0]})


def _valuable_client_at_risk(advisor, name: str, fees: str):
    person = ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name=name)
    ClientRevenue.objects.create(client=person, year=date.today().year - 1, fees=Decimal(fees), commission=0)
    Complaint.objects.create(client=person, received_on=date.today(), subject="Te laat")
    return person


def test_retention_reads_the_snapshot_of_the_advisors_team_and_says_as_of_when(client, advisor, advisor_other_team):
    rich = _valuable_client_at_risk(advisor, "Rijk", "9000")
    _valuable_client_at_risk(advisor_other_team, "Zuidelijk", "20000")
    facts_refresh()
    assert retention_snapshots_refresh() == 3  # all teams, and each of the two
    _valuable_client_at_risk(advisor, "Later", "50000")  # after the snapshot: not counted until the next
    facts_refresh()

    figures = retention_figures(advisor)
    assert figures.computed_at is not None
    assert figures.concentration.total_value == Decimal("9000.00") and figures.at_risk == [rich.facts]
    client.force_login(advisor)
    html = client.get(reverse("insights:retention")).content.decode()
    assert "Rijk" in html and "Zuidelijk" not in html and "Later" not in html
    assert "Figures as of" in html and "Refresh now" not in html  # an advisor cannot recompute every team


def test_the_snapshots_hold_the_figures_each_scope_computes_on_its_own(advisor, advisor_other_team):
    _valuable_client_at_risk(advisor, "Rijk", "9000")
    _valuable_client_at_risk(advisor, "Middel", "3000")
    _valuable_client_at_risk(advisor_other_team, "Zuidelijk", "20000")
    other = ClientFactory(team=advisor_other_team.team, advisor=advisor_other_team, household=None)
    ClientRevenue.objects.create(client=other, year=date.today().year - 3, fees=Decimal("12.50"), commission=1)
    facts_refresh()
    retention_snapshots_refresh()
    for team_id in (None, advisor.team_id, advisor_other_team.team_id):
        alone = retention_figures_json(retention_compute(team_id))
        snapshot = RetentionSnapshot.objects.get(team_id=team_id)
        assert snapshot.figures == alone  # years and signals summed per team in one pass, the rest per scope


def test_without_a_snapshot_the_figures_are_computed_for_the_page(client, advisor):
    _valuable_client_at_risk(advisor, "Rijk", "9000")
    facts_refresh()
    figures = retention_figures(advisor)
    assert figures.computed_at is None and figures.concentration.total_value == Decimal("9000.00")


def test_back_office_refreshes_the_figures_on_request(
    client, history, back_office, advisor, django_capture_on_commit_callbacks
):
    _valuable_client_at_risk(advisor, "Rijk", "9000")
    facts_refresh()
    client.force_login(back_office)
    page = client.get(reverse("insights:index"), {"weeks": 4})
    assert "Figures as of" in page.content.decode() and "Refresh now" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # enqueued once the request commits
        response = client.post(reverse("insights:refresh"), {"next": "/insights/retention/"})
    assert response.status_code == 302 and response["Location"] == "/insights/retention/"
    assert RetentionSnapshot.objects.filter(team__isnull=True).exists()  # the task ran (eager in tests)
    offsite = client.post(reverse("insights:refresh"), {"next": "https://example.com/"})
    assert offsite["Location"] == reverse("insights:index")
