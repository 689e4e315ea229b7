"""Fixtures of the canvas tests: a small book of clients with live alerts of several types."""

import pytest

from alerts.models import Alert, AlertType
from clients.tests.factories import ClientFactory


def raise_alert(client, key="fixed_rate_ending", *, segment="", status=Alert.Status.OPEN, **fields) -> Alert:
    """An alert as the framework leaves it before the canvas has placed it: priority 0, unplaced."""
    alert_type, _ = AlertType.objects.get_or_create(key=key, defaults={"name": key.replace("_", " ").capitalize()})
    return Alert.objects.create(
        alert_type=alert_type,
        segment=segment,
        client=client,
        team=client.team,
        assigned_to=client.advisor,
        status=status,
        message=f"{key} for {client.first_name}",
        **fields,
    )


@pytest.fixture
def clients(advisor):
    return [ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name=f"C{n}") for n in range(6)]


@pytest.fixture
def browser_context_args(browser_context_args):
    """A screen on which the board and the tray are both in view (a drag cannot scroll the page)."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}
