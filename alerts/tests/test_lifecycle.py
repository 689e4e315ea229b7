"""The alert lifecycle: one live alert per client and type, self-resolving, dismissals that stick."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertType
from alerts.services import (
    DISMISSAL_PERIOD,
    Finding,
    alerts_assign,
    alerts_dismiss,
    alerts_reconcile,
    alerts_resolve,
    alerts_snooze,
    alerts_wake_snoozed,
)
from clients.tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sanne(advisor):
    return ClientFactory(team=advisor.team, advisor=advisor, household=None)


def fixed_rate(client, *, days=10, end="2026-12-03"):
    return Finding(
        client_id=client.pk,
        alert_type="fixed_rate_ending",
        alert_type_name="Fixed-interest period ends",
        segment="within_14_days",
        message=f"The fixed-interest period ends on {end}.",
        values={"fixed_rate_end_date": end, "days_to_fixed_rate_end": days},
        due_date=date.fromisoformat(end),
    )


def reconcile(client, *findings):
    return alerts_reconcile(findings=list(findings), client_ids={client.pk})


def test_a_finding_opens_an_alert_assigned_to_the_clients_advisor(sanne, advisor):
    counts = reconcile(sanne, fixed_rate(sanne))
    alert = Alert.objects.get()
    assert counts.opened == 1
    assert (alert.status, alert.assigned_to, alert.team_id, alert.segment) == (
        "open",
        advisor,
        sanne.team_id,
        "within_14_days",
    )
    assert alert.events.get().reason == "Raised by the framework."


def test_the_same_finding_again_keeps_the_one_alert(sanne):
    reconcile(sanne, fixed_rate(sanne))
    counts = reconcile(sanne, fixed_rate(sanne, days=9))
    assert (counts.opened, counts.kept) == (0, 1)
    assert Alert.objects.count() == 1


def test_the_database_refuses_two_live_alerts_of_one_type_for_one_client(sanne):
    reconcile(sanne, fixed_rate(sanne))
    alert = Alert.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(alert_type=alert.alert_type, client=sanne, team=sanne.team)


def test_an_alert_resolves_itself_when_the_condition_no_longer_holds(sanne):
    reconcile(sanne, fixed_rate(sanne))
    counts = reconcile(sanne)  # the fixed-interest period was renewed: no finding any more
    alert = Alert.objects.get()
    assert counts.closed == 1
    assert alert.status == Alert.Status.RESOLVED
    assert alert.status_reason == "The condition no longer holds."
    assert alert.events.last().to_status == "resolved"


def test_a_partial_evaluation_does_not_close_other_types(sanne):
    reconcile(sanne, fixed_rate(sanne))
    alerts_reconcile(findings=[], client_ids={sanne.pk}, alert_type_keys={"home_underinsured"})
    assert Alert.objects.get().status == Alert.Status.OPEN


def test_a_dismissed_alert_stays_dismissed_until_its_values_change(sanne, advisor):
    reconcile(sanne, fixed_rate(sanne))
    alerts_dismiss(alerts=Alert.objects.all(), user=advisor, reason="Client renews with another lender")
    assert reconcile(sanne, fixed_rate(sanne, days=8)).suppressed == 1  # only the day count moved
    assert Alert.objects.count() == 1
    counts = reconcile(sanne, fixed_rate(sanne, end="2027-01-15"))  # a material change: a new end date
    assert counts.opened == 1
    assert Alert.objects.filter(status="open").count() == 1


def test_a_dismissal_expires_after_its_period(sanne, advisor):
    reconcile(sanne, fixed_rate(sanne))
    alerts_dismiss(alerts=Alert.objects.all(), user=advisor, reason="Not now")
    Alert.objects.update(closed_at=timezone.now() - DISMISSAL_PERIOD - timedelta(days=1))
    assert reconcile(sanne, fixed_rate(sanne)).opened == 1


def test_dismissing_needs_a_reason(sanne, advisor):
    reconcile(sanne, fixed_rate(sanne))
    with pytest.raises(ValidationError, match="Say why"):
        alerts_dismiss(alerts=Alert.objects.all(), user=advisor, reason="  ")


def test_snoozing_needs_a_future_date_and_wakes_up_on_it(sanne, advisor):
    reconcile(sanne, fixed_rate(sanne))
    with pytest.raises(ValidationError):
        alerts_snooze(alerts=Alert.objects.all(), until=timezone.localdate(), user=advisor)
    until = timezone.localdate() + timedelta(days=7)
    alerts_snooze(alerts=Alert.objects.all(), until=until, user=advisor)
    assert Alert.objects.get().status == Alert.Status.SNOOZED
    assert alerts_wake_snoozed(today=until - timedelta(days=1)) == 0
    assert alerts_wake_snoozed(today=until) == 1
    assert Alert.objects.get().status == Alert.Status.OPEN


def test_every_status_change_is_recorded_with_who_and_why(sanne, advisor):
    reconcile(sanne, fixed_rate(sanne))
    alerts_resolve(alerts=Alert.objects.all(), user=advisor, reason="New period agreed")
    event = Alert.objects.get().events.last()
    assert (event.by, event.from_status, event.to_status, event.reason) == (
        advisor,
        "open",
        "resolved",
        "New period agreed",
    )


def test_a_deleted_clients_alerts_take_their_events_with_them(sanne, advisor):
    # The events' key to their alert has no database constraint (alerts.models): the ORM's cascade
    # is what keeps the two together.
    reconcile(sanne, fixed_rate(sanne))
    alerts_resolve(alerts=Alert.objects.all(), user=advisor, reason="New period agreed")
    assert AlertEvent.objects.filter(alert__client=sanne).count() == 2

    sanne.delete()

    assert not Alert.objects.exists() and not AlertEvent.objects.exists()


def test_an_alert_is_only_assigned_within_its_team(sanne, advisor, advisor_other_team):
    reconcile(sanne, fixed_rate(sanne))
    with pytest.raises(ValidationError):
        alerts_assign(alerts=Alert.objects.all(), assignee=advisor_other_team, user=advisor)


def test_reconciling_many_clients_takes_the_same_number_of_queries_as_few(advisor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run(count):
        clients = [ClientFactory(team=advisor.team, advisor=advisor, household=None) for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            alerts_reconcile(findings=[fixed_rate(c) for c in clients], client_ids={c.pk for c in clients})
        return len(queries)

    run(1)  # the first call creates the alert type
    assert run(3) == run(40)
    assert AlertType.objects.filter(key="fixed_rate_ending").count() == 1
