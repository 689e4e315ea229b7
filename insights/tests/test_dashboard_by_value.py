"""Within a quadrant, the dashboard can put the most valuable clients first (alerts app, order=value)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from alerts.models import Alert, AlertType
from clients.tests.factories import ClientFactory
from enrichment.models import ClientFacts

pytestmark = pytest.mark.django_db


def test_order_by_value_keeps_priority_first_then_the_most_valuable_client(client, advisor):
    alert_type = AlertType.objects.get_or_create(key="fixed_rate_ending", defaults={"name": "Fixed rate"})[0]
    made = {}
    for name, priority, value in (("Low", 90, "100"), ("High", 90, "5000"), ("Unknown", 90, None), ("Top", 95, "10")):
        person = ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name=name)
        ClientFacts.objects.create(client=person, client_value=Decimal(value) if value else None)
        made[name] = Alert.objects.create(
            alert_type=alert_type, client=person, team=advisor.team, assigned_to=advisor, priority=priority
        )
    client.force_login(advisor)
    url = reverse("alerts:dashboard")
    by_value = client.get(url, {"order": "value"}).context["page"].items
    assert [alert.client.first_name for alert in by_value] == ["Top", "High", "Low", "Unknown"]
    # Keyset pages in the same order.
    first = client.get(url, {"order": "value"}).context["page"]
    assert first.next_cursor is None
    from alerts.selectors import BY_VALUE, alert_queue_page

    page = alert_queue_page(Alert.objects.all(), order=BY_VALUE, size=2)
    rest = alert_queue_page(Alert.objects.all(), order=BY_VALUE, size=2, after=page.next_cursor)
    assert [a.client.first_name for a in page.items + rest.items] == ["Top", "High", "Low", "Unknown"]
