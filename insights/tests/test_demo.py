"""The demo history: plausible follow-up over 26 weeks, revenue, facts refreshed; safe to run again."""

from io import StringIO

import pytest

from alerts.models import Alert, AlertType
from clients.models import ClientRevenue
from clients.tests.factories import ClientFactory
from enrichment.models import ClientFacts
from followup.models import Booking, Message, PlaybookChange
from insights.demo import demo_history_load
from insights.models import ResponseFact

pytestmark = pytest.mark.django_db


def test_the_demo_history_fills_half_a_year_and_loads_once(advisor):
    for n in range(60):
        ClientFactory(team=advisor.team, advisor=advisor, household=None, segment=["basic", "plus", "premium"][n % 3])
    AlertType.objects.get_or_create(key="fixed_rate_ending", defaults={"name": "Fixed-interest period ends"})
    out = StringIO()
    demo_history_load(stdout=out)
    assert "Insights history" in out.getvalue()
    alerts = Alert.objects.count()
    assert alerts >= 26 * 2
    weeks = set(ResponseFact.objects.values_list("week", flat=True))
    assert len(weeks) >= 20
    assert Message.objects.filter(responded_at__isnull=False).exists()
    assert Booking.objects.exists() or Message.objects.count() < 50
    assert ClientRevenue.objects.exists() and PlaybookChange.objects.exists()
    assert ClientFacts.objects.filter(client_value__isnull=False).exists()
    demo_history_load(stdout=out)
    assert Alert.objects.count() == alerts
    assert "already loaded" in out.getvalue()
