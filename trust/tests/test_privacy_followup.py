"""A commercial message never goes to a client without a recorded opt-in for that purpose and channel.

Follow-up decides with trust.privacy's `consents_granted` (planning) and `consent_recorded` (the last
check before a send): these tests and test_privacy_purpose.py check that very code."""

import pytest
from django.core import mail

from clients.models import Channel, ContactPreference, Purpose
from followup.models import Message
from followup.services.planning import dispatch_queue
from followup.services.sending import message_send
from followup.tests.conftest import make_client, make_playbook, raise_alert
from trust.privacy import consent_recorded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def followup_settings(settings, tmp_path):
    settings.STEWARD_FOLLOWUP_OUTBOX_DIR = tmp_path / "outbox"
    settings.STEWARD_FOLLOWUP_PROVIDER_DIR = tmp_path / "providers"
    settings.STEWARD_FOLLOWUP_LETTERS_DIR = tmp_path / "letters"
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = ""
    settings.STEWARD_FOLLOWUP_SITE_URL = "https://steward.example"
    settings.STEWARD_FOLLOWUP_QUIET_HOURS = ("23:59", "00:00")


def test_a_commercial_playbook_plans_nothing_for_a_client_who_only_agreed_to_service_mail(advisor):
    make_playbook(channels=("email",), purpose=Purpose.COMMERCIAL)
    raise_alert(make_client(advisor, consents=((Purpose.SERVICE, Channel.EMAIL),)))

    assert dispatch_queue() == []
    assert not mail.outbox


def test_a_commercial_message_whose_opt_in_was_withdrawn_after_planning_is_suppressed(advisor):
    make_playbook(channels=("email",), purpose=Purpose.COMMERCIAL)
    client = make_client(advisor, consents=((Purpose.COMMERCIAL, Channel.EMAIL),))
    raise_alert(client)
    (message_id,) = dispatch_queue()
    assert consent_recorded(client_id=client.pk, purpose=Purpose.COMMERCIAL, channel=Channel.EMAIL)

    ContactPreference.objects.filter(client=client, purpose=Purpose.COMMERCIAL).update(consent="refused")
    outcome = message_send(message_id=message_id, claim_token="t")

    assert outcome == "suppressed" and not mail.outbox
    assert Message.objects.get(pk=message_id).status == Message.Status.SUPPRESSED
    assert not consent_recorded(client_id=client.pk, purpose=Purpose.COMMERCIAL, channel=Channel.EMAIL)


def test_sending_asks_the_privacy_rule_itself_so_the_rule_tested_here_is_the_rule_that_decides(advisor, monkeypatch):
    from followup.services import sending

    make_playbook(channels=("email",), purpose=Purpose.COMMERCIAL)
    client = make_client(advisor, consents=((Purpose.COMMERCIAL, Channel.EMAIL),))
    raise_alert(client)
    (message_id,) = dispatch_queue()
    asked = []
    monkeypatch.setattr(sending, "consent_recorded", lambda **question: asked.append(question) or False)

    assert message_send(message_id=message_id, claim_token="t") == "suppressed"
    assert asked == [{"client_id": client.pk, "purpose": Purpose.COMMERCIAL, "channel": Channel.EMAIL}]
