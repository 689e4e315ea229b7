"""Dispatch planning: playbooks top-down, consent per purpose and channel, bundling, set-based, idempotent."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Quadrant
from clients.models import Channel, Purpose
from clients.tests.factories import HouseholdFactory
from followup.models import ClientContactRules, Message, MessageAlert
from followup.selectors import dispatch_preview
from followup.services.planning import dispatch_plan, dispatch_queue
from followup.services.sending import message_send

from .conftest import make_client, make_playbook, raise_alert

pytestmark = pytest.mark.django_db


def send_all(now):
    return [message_send(message_id=m.pk, claim_token="t", now=now) for m in Message.objects.order_by("pk")]


def test_nothing_is_sent_without_consent_for_the_playbooks_purpose(advisor, daytime):
    make_playbook(purpose=Purpose.ADVICE, channels=("email", "sms"))
    # Consent for email, but for service only: an advice playbook may not use it.
    client = make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)])
    raise_alert(client)

    plan = dispatch_plan(now=daytime)
    assert plan.messages == []
    assert plan.without_consent == 1
    assert dispatch_queue(now=daytime) == []
    assert len(mail.outbox) == 0


def test_a_client_who_opted_out_gets_nothing_whatever_their_consents(advisor, daytime):
    make_playbook(channels=("email",))
    client = make_client(advisor)
    ClientContactRules.objects.create(client=client, opted_out=True)
    raise_alert(client)

    assert dispatch_plan(now=daytime).opted_out == 1
    assert dispatch_queue(now=daytime) == []


def test_consent_withdrawn_after_queueing_suppresses_the_message_at_sending_time(advisor, daytime):
    make_playbook(channels=("email",))
    client = make_client(advisor)
    raise_alert(client)
    dispatch_queue(now=daytime)
    client.contact_preferences.update(consent="refused")

    assert send_all(daytime) == ["suppressed"]
    message = Message.objects.get()
    assert message.status == "suppressed"
    assert "No consent" in message.failure_reason
    assert len(mail.outbox) == 0


def test_the_first_consented_step_is_used_and_the_preferred_channel_wins(advisor, daytime):
    make_playbook(channels=("email", "sms", "letter"))
    only_letter = make_client(advisor, consents=[(Purpose.SERVICE, Channel.LETTER)])
    prefers_sms = make_client(
        advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)], preferred=Channel.SMS
    )
    raise_alert(only_letter)
    raise_alert(prefers_sms)

    channels = {m.client_id: m.channel for m in dispatch_plan(now=daytime).messages}
    assert channels == {only_letter.pk: "letter", prefers_sms.pk: "sms"}


def test_playbooks_are_read_top_down_and_a_type_specific_one_can_come_first(advisor, daytime):
    client = make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)])
    fixed_rate = raise_alert(client, "fixed_rate_ending")
    underinsured = raise_alert(client, "home_underinsured")
    specific = make_playbook(channels=("sms",), alert_type=fixed_rate.alert_type)
    general = make_playbook(channels=("email",))

    by_alert = {m.alert_ids[0]: m for m in dispatch_plan(now=daytime).messages}
    assert by_alert[fixed_rate.pk].playbook_id == specific.pk
    assert by_alert[underinsured.pk].playbook_id == general.pk


def test_alerts_of_one_household_through_the_same_channel_are_bundled_into_one_message(advisor, daytime):
    make_playbook(channels=("email",))
    home = HouseholdFactory()
    anna, ben = make_client(advisor, household=home), make_client(advisor, household=home)
    alerts = [raise_alert(anna, "fixed_rate_ending"), raise_alert(anna, "home_underinsured"), raise_alert(ben)]

    dispatch_queue(now=daytime)

    message = Message.objects.get()
    assert set(message.alerts.values_list("pk", flat=True)) == {a.pk for a in alerts}
    assert send_all(daytime) == ["sent"]
    assert len(mail.outbox) == 1
    for alert in alerts:
        assert f"- {alert.alert_type.name}" in mail.outbox[0].body


def test_dispatching_twice_queues_each_alert_once(advisor, daytime):
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))

    assert len(dispatch_queue(now=daytime)) == 1
    assert dispatch_queue(now=daytime) == []
    assert MessageAlert.objects.count() == 1


def test_only_the_quadrants_with_a_playbook_are_followed_up(advisor, daytime):
    make_playbook(quadrant=Quadrant.URGENT_SENSITIVE, channels=("email",))
    client = make_client(advisor)
    raise_alert(client, "pension_gap", quadrant=Quadrant.LATER_SENSITIVE)
    assert dispatch_plan(now=daytime).messages == []


def test_planning_runs_a_fixed_number_of_queries_whatever_the_number_of_clients(advisor, daytime):
    make_playbook(channels=("email", "sms"))
    make_playbook(quadrant=Quadrant.LATER_ROUTINE, channels=("letter",))

    def queries_for_new_clients(count):
        for _ in range(count):
            client = make_client(
                advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.LETTER)]
            )
            raise_alert(client)
            raise_alert(client, "home_underinsured", quadrant=Quadrant.LATER_ROUTINE)
        with CaptureQueriesContext(connection) as queries:
            queued = dispatch_queue(now=daytime)
        return len(queued), len(queries)

    few, few_queries = queries_for_new_clients(2)
    many, many_queries = queries_for_new_clients(25)
    assert (few, many) == (4, 50)
    # Bulk inserts may split into batches (SQLite takes 999 parameters a statement); no query per client.
    assert many_queries - few_queries <= 2


def test_the_preview_counts_messages_per_channel_for_the_coming_week(advisor, daytime):
    make_playbook(channels=("email",))
    make_playbook(quadrant=Quadrant.LATER_ROUTINE, channels=("letter",))
    home = HouseholdFactory()
    raise_alert(make_client(advisor, household=home))
    raise_alert(make_client(advisor, household=home))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.LETTER)]), quadrant=Quadrant.LATER_ROUTINE)
    raise_alert(make_client(advisor, consents=[]))

    preview = dispatch_preview(now=daytime)
    assert {row.channel: row.now for row in preview["rows"]} == {"email": 1, "letter": 1}
    assert preview["alerts_bundled"] == 3
    assert preview["without_consent"] == 1


# --- Reminders: no response after a week, the playbook's next channel -----------------------------


def test_an_alert_without_a_response_after_a_week_goes_out_through_the_playbooks_next_channel(advisor, daytime):
    make_playbook(channels=("email", "sms"))
    alert = raise_alert(
        make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)])
    )
    dispatch_queue(now=daytime)
    assert send_all(daytime) == ["sent"]

    assert dispatch_queue(now=daytime + dt.timedelta(days=6)) == []
    (reminder_id,) = dispatch_queue(now=daytime + dt.timedelta(days=8))
    reminder = Message.objects.get(pk=reminder_id)
    assert reminder.channel == Channel.SMS and list(reminder.alerts.all()) == [alert]
    assert reminder.events.get(kind="queued").detail.startswith("reminder: no response")
    # Planned once: the next run finds the reminder waiting, then recent.
    assert dispatch_queue(now=daytime + dt.timedelta(days=8)) == []


def test_an_answered_message_gets_no_reminder(advisor, daytime):
    from followup.services.responses import message_track

    make_playbook(channels=("email", "sms"))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)]))
    dispatch_queue(now=daytime)
    send_all(daytime)
    message_track(message=Message.objects.get(), event="responded", at=daytime + dt.timedelta(days=1))

    assert dispatch_queue(now=daytime + dt.timedelta(days=8)) == []


def test_a_reminder_skips_channels_without_consent_and_the_playbook_ends_after_its_last_step(advisor, daytime):
    make_playbook(channels=("email", "sms", "letter"))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.LETTER)]))
    dispatch_queue(now=daytime)
    send_all(daytime)

    (letter_id,) = dispatch_queue(now=daytime + dt.timedelta(days=8))
    assert Message.objects.get(pk=letter_id).channel == Channel.LETTER
    send_all(daytime + dt.timedelta(days=8))
    assert dispatch_queue(now=daytime + dt.timedelta(days=20)) == []


def test_reminders_are_off_when_the_setting_says_zero_days(advisor, daytime, settings):
    settings.STEWARD_FOLLOWUP_REMINDER_AFTER_DAYS = 0
    make_playbook(channels=("email", "sms"))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL), (Purpose.SERVICE, Channel.SMS)]))
    dispatch_queue(now=daytime)
    send_all(daytime)

    assert dispatch_queue(now=daytime + dt.timedelta(days=30)) == []
