"""Fixtures of the follow-up tests: clients with consents, placed alerts, playbooks, a fixed clock."""

import datetime as dt

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertType, Quadrant
from clients.models import Channel, Purpose
from clients.tests.factories import ClientFactory, ContactPreferenceFactory
from followup.models import Playbook
from followup.services.playbooks import playbook_save


@pytest.fixture(autouse=True)
def followup_files(settings, tmp_path):
    """Every file backend writes under this test's own folder; email goes to Django's test outbox."""
    settings.STEWARD_FOLLOWUP_OUTBOX_DIR = tmp_path / "outbox"
    settings.STEWARD_FOLLOWUP_PROVIDER_DIR = tmp_path / "providers"
    settings.STEWARD_FOLLOWUP_LETTERS_DIR = tmp_path / "letters"
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = ""
    settings.STEWARD_FOLLOWUP_SITE_URL = "https://steward.example"
    settings.STEWARD_FOLLOWUP_QUIET_HOURS = ("21:00", "08:00")
    settings.STEWARD_FOLLOWUP_MAX_MESSAGES_PER_WEEK = 3
    return tmp_path


@pytest.fixture
def daytime():
    """Tuesday 11:00 in Amsterdam, in the future: outside quiet hours, whatever time the suite runs."""
    today = timezone.localdate() + dt.timedelta(days=7)
    tuesday = today + dt.timedelta(days=(1 - today.weekday()) % 7)
    return timezone.make_aware(dt.datetime.combine(tuesday, dt.time(11, 0)))


def make_client(advisor, *, consents=((Purpose.SERVICE, Channel.EMAIL),), preferred=None, **fields):
    client = ClientFactory(team=advisor.team, advisor=advisor, **fields)
    for purpose, channel in consents:
        ContactPreferenceFactory(
            client=client, purpose=purpose, channel=channel, preferred=(channel == preferred), consent="granted"
        )
    return client


def raise_alert(client, key="fixed_rate_ending", *, quadrant=Quadrant.URGENT_ROUTINE, priority=60, **fields) -> Alert:
    alert_type, _ = AlertType.objects.get_or_create(key=key, defaults={"name": key.replace("_", " ").capitalize()})
    return Alert.objects.create(
        alert_type=alert_type,
        client=client,
        team=client.team,
        assigned_to=client.advisor,
        quadrant=quadrant,
        priority=priority,
        message=f"{key} for {client.first_name}",
        due_date=timezone.localdate() + dt.timedelta(days=10),
        **fields,
    )


def make_playbook(
    *,
    quadrant=Quadrant.URGENT_ROUTINE,
    channels=("email",),
    purpose=Purpose.SERVICE,
    call_to_action="self_service",
    flow="fixed_rate_period",
    user=None,
    **fields,
) -> Playbook:
    playbook = Playbook(
        name=f"{quadrant} via {'/'.join(channels)}",
        quadrant=quadrant,
        purpose=purpose,
        call_to_action=call_to_action,
        self_service_flow=flow if call_to_action == "self_service" else "",
        **fields,
    )
    return playbook_save(playbook=playbook, steps=[{"channel": c} for c in channels], user=user)
