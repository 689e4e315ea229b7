"""Sending: quiet hours, frequency caps, exactly once under retries and crashes, and each channel."""

import datetime as dt
import json

import pytest
from django.core import mail

from clients.models import Channel, Purpose
from followup import channels
from followup.models import CallTask, ClientContactRules, Message
from followup.services import sending
from followup.services.planning import dispatch_queue
from followup.services.sending import message_send

from .conftest import make_client, make_playbook, raise_alert

pytestmark = pytest.mark.django_db


class WorkerDied(BaseException):
    """What a killed worker looks like to the code after it: nothing more runs."""


@pytest.fixture
def queued(advisor, daytime):
    """One email queued for one client with one urgent alert."""
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))
    (message_id,) = dispatch_queue(now=daytime)
    return Message.objects.get(pk=message_id)


# --- Quiet hours and frequency caps ---------------------------------------------------------------


def test_a_message_due_in_quiet_hours_waits_until_they_end(queued, daytime):
    late_evening = daytime.replace(hour=22, minute=30)
    assert message_send(message_id=queued.pk, claim_token="t1", now=late_evening) == "deferred"
    queued.refresh_from_db()
    assert queued.status == "queued" and not queued.claimed_at
    assert queued.send_after == (daytime + dt.timedelta(days=1)).replace(hour=8, minute=0)
    assert len(mail.outbox) == 0
    # At 07:59 the next morning it still waits; at 08:00 it goes.
    assert (
        message_send(message_id=queued.pk, claim_token="t2", now=queued.send_after - dt.timedelta(minutes=1))
        == "skipped"
    )
    assert message_send(message_id=queued.pk, claim_token="t3", now=queued.send_after) == "sent"
    assert len(mail.outbox) == 1


def test_a_clients_own_quiet_hours_override_the_firms(queued, daytime):
    ClientContactRules.objects.create(client=queued.client, quiet_hours_start=dt.time(10), quiet_hours_end=dt.time(12))
    assert message_send(message_id=queued.pk, claim_token="t", now=daytime) == "deferred"
    queued.refresh_from_db()
    assert queued.send_after == daytime.replace(hour=12)


def test_letters_ignore_quiet_hours(advisor, daytime):
    make_playbook(channels=("letter",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.LETTER)]))
    (message_id,) = dispatch_queue(now=daytime)
    assert message_send(message_id=message_id, claim_token="t", now=daytime.replace(hour=23)) == "sent"


def test_the_frequency_cap_holds_a_message_back_until_the_oldest_in_the_window_is_a_week_old(
    advisor, daytime, settings
):
    settings.STEWARD_FOLLOWUP_MAX_MESSAGES_PER_WEEK = 2
    make_playbook(channels=("email",))
    client = make_client(advisor)
    sent_times = []
    for day, key in enumerate(["fixed_rate_ending", "home_underinsured", "pension_gap"]):
        raise_alert(client, key)
        now = daytime + dt.timedelta(days=day)
        (message_id,) = dispatch_queue(now=now)
        outcome = message_send(message_id=message_id, claim_token=f"t{day}", now=now)
        sent_times.append(now)
    assert outcome == "deferred"
    held = Message.objects.get(pk=message_id)
    assert held.send_after == sent_times[0] + dt.timedelta(days=7)
    assert len(mail.outbox) == 2
    assert message_send(message_id=message_id, claim_token="later", now=held.send_after) == "sent"
    assert len(mail.outbox) == 3


# --- Exactly once ---------------------------------------------------------------------------------


def test_sending_the_same_message_twice_sends_one_email(queued, daytime):
    assert message_send(message_id=queued.pk, claim_token="task-1", now=daytime) == "sent"
    assert message_send(message_id=queued.pk, claim_token="task-1", now=daytime) == "skipped"
    assert message_send(message_id=queued.pk, claim_token="task-2", now=daytime) == "skipped"
    assert len(mail.outbox) == 1


def test_a_second_worker_cannot_take_a_fresh_claim(queued, daytime):
    assert sending.message_claim(message_id=queued.pk, claim_token="worker-a", now=daytime)
    assert not sending.message_claim(message_id=queued.pk, claim_token="worker-b", now=daytime)


def test_a_worker_dying_between_claim_and_provider_call_is_retried_and_sends_once(queued, daytime, monkeypatch):
    def die(**kwargs):
        raise WorkerDied

    with monkeypatch.context() as patch:
        patch.setattr(sending, "message_mark_provider_call", die)
        with pytest.raises(WorkerDied):
            message_send(message_id=queued.pk, claim_token="task-1", now=daytime)
    assert len(mail.outbox) == 0
    # Celery redelivers the task with the same id: it takes its own claim back at once.
    assert message_send(message_id=queued.pk, claim_token="task-1", now=daytime) == "sent"
    assert len(mail.outbox) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("sent", 2)


def test_another_worker_takes_over_a_dead_claim_only_after_the_lease(queued, daytime, monkeypatch):
    monkeypatch.setattr(sending, "message_mark_provider_call", lambda **kwargs: (_ for _ in ()).throw(WorkerDied))
    with pytest.raises(WorkerDied):
        message_send(message_id=queued.pk, claim_token="task-1", now=daytime)
    monkeypatch.undo()
    assert message_send(message_id=queued.pk, claim_token="task-2", now=daytime + dt.timedelta(minutes=1)) == "skipped"
    assert message_send(message_id=queued.pk, claim_token="task-2", now=daytime + dt.timedelta(minutes=6)) == "sent"
    assert len(mail.outbox) == 1


def test_a_worker_dying_after_the_provider_call_is_not_sent_again(queued, daytime, monkeypatch):
    def die(**kwargs):
        raise WorkerDied

    with monkeypatch.context() as patch:
        patch.setattr(sending, "message_record_sent", die)
        with pytest.raises(WorkerDied):
            message_send(message_id=queued.pk, claim_token="task-1", now=daytime)
    assert len(mail.outbox) == 1  # it left
    queued.refresh_from_db()
    assert queued.status == "queued" and queued.provider_call_started_at

    # The retry asks the provider, finds the email and records it; nothing is sent twice.
    assert message_send(message_id=queued.pk, claim_token="task-1", now=daytime) == "recovered"
    assert len(mail.outbox) == 1
    queued.refresh_from_db()
    assert queued.status == "sent" and queued.provider_reference


def test_a_provider_that_cannot_say_marks_the_message_failed_rather_than_risk_a_duplicate(queued, daytime, monkeypatch):
    monkeypatch.setattr(channels.EmailChannel, "lookup", lambda self, message: channels.UNKNOWN)
    monkeypatch.setattr(sending, "message_record_sent", lambda **kwargs: (_ for _ in ()).throw(WorkerDied))
    with pytest.raises(WorkerDied):
        message_send(message_id=queued.pk, claim_token="task-1", now=daytime)
    monkeypatch.undo()
    monkeypatch.setattr(channels.EmailChannel, "lookup", lambda self, message: channels.UNKNOWN)

    assert message_send(message_id=queued.pk, claim_token="task-1", now=daytime) == "failed"
    queued.refresh_from_db()
    assert queued.status == "failed" and "not sent again" in queued.failure_reason
    assert len(mail.outbox) == 1


def test_a_crash_after_the_provider_call_started_but_before_it_left_sends_once_on_retry(advisor, daytime, monkeypatch):
    """The SMS file backend can tell "never received": the retry sends it."""
    make_playbook(channels=("sms",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.SMS)]))
    (message_id,) = dispatch_queue(now=daytime)
    with monkeypatch.context() as patch:
        patch.setattr(channels.FileProviderChannel, "send", lambda self, m, links: (_ for _ in ()).throw(WorkerDied))
        with pytest.raises(WorkerDied):
            message_send(message_id=message_id, claim_token="task-1", now=daytime)
    assert message_send(message_id=message_id, claim_token="task-1", now=daytime) == "sent"
    assert Message.objects.get(pk=message_id).status == "sent"


def test_the_celery_task_retried_with_the_same_id_does_not_resend(queued, daytime, monkeypatch):
    from followup.tasks import send_message

    monkeypatch.setattr(sending.timezone, "now", lambda: daytime)
    send_message.apply(args=[queued.pk], task_id="celery-task-1")
    send_message.apply(args=[queued.pk], task_id="celery-task-1")
    send_message.apply(args=[queued.pk], task_id="celery-task-2")
    assert len(mail.outbox) == 1


# --- The channels ---------------------------------------------------------------------------------


def test_an_sms_goes_to_the_provider_with_the_clients_mobile_number(advisor, daytime, followup_files):
    make_playbook(channels=("sms",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.SMS)], phone="+31612345678"))
    (message_id,) = dispatch_queue(now=daytime)
    assert message_send(message_id=message_id, claim_token="t", now=daytime) == "sent"
    (written,) = (followup_files / "providers" / "sms").glob("*.json")
    payload = json.loads(written.read_text())
    assert payload["to"] == "+31612345678"
    assert "https://steward.example/c/" in payload["text"]


def test_a_letter_is_a_pdf_in_the_print_folder(advisor, daytime, followup_files):
    make_playbook(channels=("letter",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.LETTER)]))
    (message_id,) = dispatch_queue(now=daytime)
    assert message_send(message_id=message_id, claim_token="t", now=daytime) == "sent"
    (pdf,) = (followup_files / "letters").glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_a_phone_call_lands_in_the_advisors_call_queue(advisor, daytime):
    from followup.models import Playbook, PlaybookStep

    playbook = make_playbook(channels=("phone",), purpose=Purpose.ADVICE, call_to_action="booking")
    PlaybookStep.objects.filter(playbook=playbook).update(handled_by="advisor")
    assert Playbook.objects.count() == 1
    raise_alert(make_client(advisor, consents=[(Purpose.ADVICE, Channel.PHONE)]))
    (message_id,) = dispatch_queue(now=daytime)
    assert message_send(message_id=message_id, claim_token="t", now=daytime) == "sent"
    task = CallTask.objects.get()
    assert task.assigned_to == advisor and task.team == advisor.team


def test_an_email_without_address_fails_with_the_reason(advisor, daytime):
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor, email=""))
    (message_id,) = dispatch_queue(now=daytime)
    assert message_send(message_id=message_id, claim_token="t", now=daytime) == "failed"
    assert Message.objects.get(pk=message_id).failure_reason == "The client has no email address."


def test_the_demo_outbox_backend_writes_one_file_per_email_and_can_tell_it_sent_one(
    queued, daytime, settings, followup_files
):
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = "followup.channels.OutboxEmailBackend"
    assert message_send(message_id=queued.pk, claim_token="t", now=daytime) == "sent"
    assert (followup_files / "outbox" / f"{queued.idempotency_key}.eml").exists()
    assert channels.EmailChannel().lookup(queued) == f"<{queued.idempotency_key}@steward.local>"
