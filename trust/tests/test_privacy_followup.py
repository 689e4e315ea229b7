"""A commercial message never goes to a client without a recorded opt-in for that purpose and channel."""

import pytest
from django.core import mail

from clients.models import Channel, ContactPreference, Purpose
from followup.models import Message
from followup.services.planning import dispatch_queue
from followup.services.sending import message_send
from followup.tests.conftest import make_client, make_playbook, raise_alert
from trust.privacy import opt_in_q

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
    assert Message.objects.filter(opt_in_q(purpose=Purpose.COMMERCIAL)).count() == 1

    ContactPreference.objects.filter(client=client, purpose=Purpose.COMMERCIAL).update(consent="refused")
    outcome = message_send(message_id=message_id, claim_token="t")

    assert outcome == "suppressed" and not mail.outbox
    assert Message.objects.get(pk=message_id).status == Message.Status.SUPPRESSED
    assert not Message.objects.filter(opt_in_q(purpose=Purpose.COMMERCIAL)).exists()
