"""The alert API: the queue and its filters, an alert's story, and the actions, against the schema."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertType, Quadrant
from clients.tests.factories import ClientFactory
from clients.tests.test_api import api_client_for, assert_error, assert_matches_schema, result_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixed_rate(db):
    return AlertType.objects.get_or_create(key="fixed_rate_ending", defaults={"name": "Fixed-interest period ends"})[0]


@pytest.fixture
def no_contact(db):
    return AlertType.objects.get_or_create(key="no_contact", defaults={"name": "No contact for a year"})[0]


@pytest.fixture
def sanne(advisor):
    return ClientFactory(team=advisor.team, advisor=advisor, first_name="Sanne", last_name="Jansen", household=None)


@pytest.fixture
def pieter(advisor_other_team):
    return ClientFactory(team=advisor_other_team.team, advisor=advisor_other_team, last_name="Bakker", household=None)


def raise_alert(client, alert_type, **fields) -> Alert:
    fields.setdefault("assigned_to", client.advisor)
    alert = Alert.objects.create(client=client, team=client.team, alert_type=alert_type, **fields)
    AlertEvent.objects.create(alert=alert, to_status=Alert.Status.OPEN, reason="Raised by the framework.")
    return alert


@pytest.fixture
def mine(sanne, fixed_rate):
    return raise_alert(sanne, fixed_rate, priority=5, message="The fixed-interest period ends on 3 December.")


@pytest.fixture
def theirs(pieter, fixed_rate):
    return raise_alert(pieter, fixed_rate, priority=9)


def today():
    return timezone.localdate()


# --- The queue ------------------------------------------------------------------------------------


def test_the_queue_shows_an_advisor_their_own_alerts(advisor, mine, theirs):
    body = assert_matches_schema(api_client_for(advisor).get("/api/alerts/"))
    assert result_ids(body) == [mine.pk]
    row = body["results"][0]
    assert (row["alert_type"]["key"], row["client"]["id"], row["assigned_to"]["id"]) == (
        "fixed_rate_ending",
        mine.client_id,
        advisor.pk,
    )


def test_the_queue_is_in_the_canvas_order_then_by_due_date_and_pages_without_gaps(advisor, fixed_rate):
    # Seven alerts on seven clients (one live alert per client and type): priority first, soonest due,
    # no due date last, then by id.
    shape = [(3, 5), (9, None), (9, 2), (3, None), (1, 1), (9, 2), (3, 1)]
    alerts = [
        raise_alert(
            ClientFactory(team=advisor.team, advisor=advisor, household=None),
            fixed_rate,
            priority=priority,
            due_date=today() + timedelta(days=days) if days is not None else None,
        )
        for priority, days in shape
    ]
    expected = [alerts[i].pk for i in (2, 5, 1, 6, 0, 3, 4)]
    api = api_client_for(advisor)
    body = assert_matches_schema(api.get("/api/alerts/", {"page_size": 3}))
    seen = result_ids(body)
    while body["next"]:
        body = assert_matches_schema(api.get(body["next"]))
        seen += result_ids(body)
    assert seen == expected


def test_a_page_holds_50_unless_asked_and_never_more_than_200(advisor, sanne, fixed_rate):
    Alert.objects.bulk_create(
        Alert(client=sanne, team=sanne.team, alert_type=fixed_rate, assigned_to=advisor, status=Alert.Status.RESOLVED)
        for _ in range(205)
    )
    api = api_client_for(advisor)
    assert len(api.get("/api/alerts/", {"status": "any"}).json()["results"]) == 50
    assert len(api.get("/api/alerts/", {"status": "any", "page_size": 500}).json()["results"]) == 200


def test_the_default_scope_is_mine_for_an_advisor_and_every_team_for_back_office(
    advisor, back_office, sanne, fixed_rate, no_contact, theirs
):
    assigned = raise_alert(sanne, fixed_rate)
    unassigned = raise_alert(sanne, no_contact, assigned_to=None)
    assert set(result_ids(api_client_for(advisor).get("/api/alerts/").json())) == {assigned.pk}
    team = api_client_for(advisor).get("/api/alerts/", {"scope": "team"}).json()
    assert set(result_ids(team)) == {assigned.pk, unassigned.pk}
    everyone = assert_matches_schema(api_client_for(back_office).get("/api/alerts/"))
    assert set(result_ids(everyone)) == {assigned.pk, unassigned.pk, theirs.pk}


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ({"alert_type": "fixed_rate_ending"}, {"urgent"}),
        ({"alert_type": "no_contact"}, {"later"}),
        ({"alert_type": "no_contact", "status": "any"}, {"later", "resolved"}),
        ({"quadrant": Quadrant.URGENT_SENSITIVE}, {"urgent"}),
        ({"segment": "within_14_days"}, {"urgent"}),
        ({"due_within_days": 14}, {"urgent"}),
        ({"due_within_days": 0}, set()),
        ({"status": "resolved"}, {"resolved"}),
        ({"status": "any"}, {"urgent", "later", "resolved"}),
        ({}, {"urgent", "later"}),
    ],
)
def test_the_queue_filters(advisor, sanne, fixed_rate, no_contact, query, matches):
    other_client = ClientFactory(team=advisor.team, advisor=advisor, household=None)
    alerts = {
        "urgent": raise_alert(
            sanne,
            fixed_rate,
            quadrant=Quadrant.URGENT_SENSITIVE,
            segment="within_14_days",
            due_date=today() + timedelta(days=10),
        ),
        "later": raise_alert(sanne, no_contact, quadrant=Quadrant.LATER_ROUTINE, due_date=today() + timedelta(days=60)),
        "resolved": raise_alert(other_client, no_contact, status=Alert.Status.RESOLVED),
    }
    body = assert_matches_schema(api_client_for(advisor).get("/api/alerts/", {"scope": "team", **query}))
    assert set(result_ids(body)) == {alerts[name].pk for name in matches}


def test_the_queue_filters_by_client_and_team(back_office, mine, theirs):
    api = api_client_for(back_office)
    assert result_ids(api.get("/api/alerts/", {"client": mine.client_id}).json()) == [mine.pk]
    assert result_ids(api.get("/api/alerts/", {"team": theirs.team_id}).json()) == [theirs.pk]


def test_filters_never_widen_what_an_advisor_sees(advisor, mine, theirs):
    api = api_client_for(advisor)
    for query in ({"scope": "all"}, {"team": theirs.team_id}, {"client": theirs.client_id}, {"status": "any"}):
        assert theirs.pk not in result_ids(assert_matches_schema(api.get("/api/alerts/", {"scope": "all", **query})))


def test_invalid_filters_are_a_400_in_the_error_shape(advisor):
    response = api_client_for(advisor).get("/api/alerts/", {"scope": "everything", "due_within_days": "-1"})
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"scope", "due_within_days"}
    assert_matches_schema(response)


# --- One alert ------------------------------------------------------------------------------------


def test_an_alert_comes_with_its_values_explanation_and_history(advisor, mine):
    Alert.objects.filter(pk=mine.pk).update(
        values={"fixed_rate_end_date": "2026-12-03"},
        explanation=[{"name": "fixed_rate_end_date", "value": "2026-12-03", "source": "crm", "age_days": 2}],
    )
    body = assert_matches_schema(api_client_for(advisor).get(f"/api/alerts/{mine.pk}/"))
    assert body["values"] == {"fixed_rate_end_date": "2026-12-03"}
    assert body["explanation"][0]["source"] == "crm"
    assert [(event["to_status"], event["by"]) for event in body["events"]] == [("open", None)]


def test_another_teams_alert_is_not_found(advisor, theirs):
    response = api_client_for(advisor).get(f"/api/alerts/{theirs.pk}/")
    assert_error(response, 404, "not_found")
    assert_matches_schema(response)


# --- Changing the status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"status": "in_progress"}, "in_progress"),
        ({"status": "snoozed", "until": "2099-01-01"}, "snoozed"),
        ({"status": "resolved"}, "resolved"),
        ({"status": "resolved", "reason": "Renewed at the same bank."}, "resolved"),
        ({"status": "dismissed", "reason": "The client is moving abroad."}, "dismissed"),
    ],
)
def test_an_advisor_moves_an_alert_through_its_lifecycle(advisor, mine, payload, status):
    body = assert_matches_schema(api_client_for(advisor).post(f"/api/alerts/{mine.pk}/status/", payload))
    assert body["status"] == status
    last = body["events"][-1]
    assert (last["from_status"], last["to_status"], last["by"]["id"]) == ("open", status, advisor.pk)
    if "reason" in payload:
        assert last["reason"] == payload["reason"]
    mine.refresh_from_db()
    assert mine.status == status


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "snoozed"}, "until"),
        ({"status": "dismissed", "reason": "  "}, "reason"),
        ({"status": "open"}, "status"),
        ({}, "status"),
    ],
)
def test_a_status_change_missing_what_it_needs_is_a_400_on_that_field(advisor, mine, payload, field):
    response = api_client_for(advisor).post(f"/api/alerts/{mine.pk}/status/", payload)
    assert field in assert_error(response, 400, "invalid")["details"]
    assert_matches_schema(response)
    mine.refresh_from_db()
    assert mine.status == "open"


def test_a_snooze_into_the_past_is_refused_by_the_lifecycle(advisor, mine):
    yesterday = (today() - timedelta(days=1)).isoformat()
    response = api_client_for(advisor).post(f"/api/alerts/{mine.pk}/status/", {"status": "snoozed", "until": yesterday})
    error = assert_error(response, 400, "invalid")
    assert error["details"] == {"non_field_errors": ["Snooze until a date in the future."]}
    assert_matches_schema(response)


def test_a_closed_alert_cannot_change_status(advisor, mine):
    api = api_client_for(advisor)
    api.post(f"/api/alerts/{mine.pk}/status/", {"status": "resolved"})
    response = api.post(f"/api/alerts/{mine.pk}/status/", {"status": "in_progress"})
    assert_error(response, 409, "status_not_changed")
    assert_matches_schema(response)


def test_another_teams_alert_cannot_be_changed_and_says_not_found_before_checking_the_input(advisor, theirs):
    api = api_client_for(advisor)
    for payload in ({"status": "resolved"}, {"status": "nonsense"}):
        response = api.post(f"/api/alerts/{theirs.pk}/status/", payload)
        assert_error(response, 404, "not_found")
        assert_matches_schema(response)
    theirs.refresh_from_db()
    assert theirs.status == "open"
    assert theirs.events.count() == 1


def test_the_status_endpoint_only_takes_post(advisor, mine):
    assert_error(api_client_for(advisor).get(f"/api/alerts/{mine.pk}/status/"), 405, "method_not_allowed")


# --- Assigning ------------------------------------------------------------------------------------


@pytest.fixture
def colleague(advisor):
    from accounts.services import user_create

    return user_create(username="chris", password="x-long-password", role="Advisor", team=advisor.team)


def test_an_alert_is_assigned_to_a_colleague_of_the_team_or_to_nobody(advisor, colleague, mine):
    api = api_client_for(advisor)
    body = assert_matches_schema(api.post(f"/api/alerts/{mine.pk}/assign/", {"assignee": colleague.pk}))
    assert body["assigned_to"]["id"] == colleague.pk
    assert body["events"][-1]["reason"].startswith("Assigned to")
    body = assert_matches_schema(api.post(f"/api/alerts/{mine.pk}/assign/", {"assignee": None}))
    assert body["assigned_to"] is None


def test_an_advisor_of_another_team_cannot_be_assigned_and_is_not_even_known(advisor, advisor_other_team, mine):
    api = api_client_for(advisor)
    other = api.post(f"/api/alerts/{mine.pk}/assign/", {"assignee": advisor_other_team.pk})
    nobody = api.post(f"/api/alerts/{mine.pk}/assign/", {"assignee": 999_999})
    assert assert_error(other, 400, "invalid")["details"] == assert_error(nobody, 400, "invalid")["details"]
    assert_matches_schema(other)
    mine.refresh_from_db()
    assert mine.assigned_to == advisor


def test_back_office_may_not_give_an_alert_to_another_teams_advisor(back_office, advisor_other_team, mine):
    response = api_client_for(back_office).post(f"/api/alerts/{mine.pk}/assign/", {"assignee": advisor_other_team.pk})
    assert "non_field_errors" in assert_error(response, 400, "invalid")["details"]


def test_assigning_needs_the_assignee_field(advisor, mine):
    response = api_client_for(advisor).post(f"/api/alerts/{mine.pk}/assign/", {})
    assert "assignee" in assert_error(response, 400, "invalid")["details"]


def test_a_closed_alert_cannot_be_assigned(advisor, colleague, mine):
    api = api_client_for(advisor)
    api.post(f"/api/alerts/{mine.pk}/status/", {"status": "resolved"})
    response = api.post(f"/api/alerts/{mine.pk}/assign/", {"assignee": colleague.pk})
    assert_error(response, 409, "status_not_changed")
    assert_matches_schema(response)


# --- Bulk -----------------------------------------------------------------------------------------


def test_a_bulk_action_changes_only_the_users_alerts_and_reports_the_rest_as_not_found(
    advisor, sanne, no_contact, mine, theirs
):
    second = raise_alert(sanne, no_contact)
    ids = [mine.pk, theirs.pk, second.pk, 999_999]
    response = api_client_for(advisor).post("/api/alerts/bulk/", {"ids": ids, "action": "resolve"})
    body = assert_matches_schema(response)
    assert body == {
        "action": "resolve",
        "changed": 2,
        "found": [mine.pk, second.pk],
        "not_found": [theirs.pk, 999_999],
    }
    theirs.refresh_from_db()
    assert (theirs.status, theirs.events.count()) == ("open", 1)
    assert set(Alert.objects.filter(status="resolved").values_list("pk", flat=True)) == {mine.pk, second.pk}


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"action": "start"}, "in_progress"),
        ({"action": "snooze", "until": "2099-01-01"}, "snoozed"),
        ({"action": "dismiss", "reason": "Duplicate of another alert."}, "dismissed"),
    ],
)
def test_every_bulk_action_uses_the_lifecycle(advisor, mine, payload, status):
    body = assert_matches_schema(api_client_for(advisor).post("/api/alerts/bulk/", {"ids": [mine.pk], **payload}))
    assert body["changed"] == 1
    mine.refresh_from_db()
    assert mine.status == status
    assert mine.events.last().by == advisor


def test_a_bulk_assign_needs_an_assignee_of_the_team(advisor, colleague, advisor_other_team, mine, theirs):
    api = api_client_for(advisor)
    missing = api.post("/api/alerts/bulk/", {"ids": [mine.pk], "action": "assign"})
    assert "assignee" in assert_error(missing, 400, "invalid")["details"]
    stranger = api.post("/api/alerts/bulk/", {"ids": [mine.pk], "action": "assign", "assignee": advisor_other_team.pk})
    assert "assignee" in assert_error(stranger, 400, "invalid")["details"]
    body = assert_matches_schema(
        api.post("/api/alerts/bulk/", {"ids": [mine.pk, theirs.pk], "action": "assign", "assignee": colleague.pk})
    )
    assert (body["changed"], body["not_found"]) == (1, [theirs.pk])
    theirs.refresh_from_db()
    assert theirs.assigned_to == advisor_other_team


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ids": [], "action": "resolve"}, "ids"),
        ({"ids": list(range(1, 502)), "action": "resolve"}, "ids"),
        ({"ids": ["x"], "action": "resolve"}, "ids"),
        ({"ids": [1], "action": "explode"}, "action"),
        ({"ids": [1], "action": "snooze"}, "until"),
        ({"ids": [1], "action": "dismiss"}, "reason"),
    ],
)
def test_a_bulk_request_that_is_not_valid_is_a_400_on_its_field(advisor, payload, field):
    response = api_client_for(advisor).post("/api/alerts/bulk/", payload)
    assert field in assert_error(response, 400, "invalid")["details"]
    assert_matches_schema(response)


def test_a_user_without_the_alerts_area_is_refused(db, mine):
    from accounts.models import User

    outsider = User.objects.create_user("temp", password="x")
    api = api_client_for(outsider)
    for response in (
        api.get("/api/alerts/"),
        api.get(f"/api/alerts/{mine.pk}/"),
        api.post("/api/alerts/bulk/", {"ids": [mine.pk], "action": "resolve"}),
    ):
        assert_error(response, 403, "permission_denied")
        assert_matches_schema(response)
    mine.refresh_from_db()
    assert mine.status == "open"


def test_the_first_look_at_an_alert_raised_by_a_rule_keeps_its_full_explanation(advisor, fixed_rate):
    from clients.tests.factories import full_client_file
    from framework.models import Rule

    client = full_client_file(team=advisor.team, advisor=advisor)  # a loan part's fixed rate ends in 10 days
    rule = Rule.objects.filter(key="fixed_rate_ends_14_days").order_by("-pk").first()
    alert = raise_alert(client, fixed_rate, rule=rule)
    body = assert_matches_schema(api_client_for(advisor).get(f"/api/alerts/{alert.pk}/"))
    assert body["explanation"]
    assert {"name", "value", "source", "as_of", "age_days"} <= set(body["explanation"][0])
    alert.refresh_from_db()
    assert alert.explanation == body["explanation"]


def test_a_page_of_the_queue_costs_the_same_queries_for_3_alerts_as_for_30(
    advisor, fixed_rate, django_assert_max_num_queries
):
    def raise_for_new_clients(count):
        for _ in range(count):
            raise_alert(ClientFactory(team=advisor.team, advisor=advisor, household=None), fixed_rate)

    raise_for_new_clients(3)
    api = api_client_for(advisor)
    with CaptureQueriesContext(connection) as three:
        assert len(api.get("/api/alerts/").json()["results"]) == 3
    raise_for_new_clients(27)
    with django_assert_max_num_queries(len(three)):
        assert len(api.get("/api/alerts/").json()["results"]) == 30
