"""Delivery reports: a provider tells us a message was delivered or failed, and the status follows.

The webhook (`/followup/webhooks/<provider>/delivery/`) trusts only reports signed with the
provider's secret within five minutes, records each once, and answers in JSON what was wrong. The
demo's providers report through the same verification and recording.
"""

import datetime as dt
import itertools
import json
import logging

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from alerts.models import Alert
from clients.models import Channel, Purpose
from followup import demo_provider
from followup.demo_provider import demo_delivery_reports_send
from followup.models import Message, MessageEvent
from followup.services.delivery import (
    DeliveryReport,
    ReportRejected,
    delivery_report_parse,
    delivery_report_receive,
    delivery_report_signature,
)
from followup.services.planning import dispatch_queue
from followup.services.responses import message_track
from followup.services.sending import message_send

from .conftest import make_client, make_playbook, raise_alert

pytestmark = pytest.mark.django_db

SECRETS = {"acme": "acme-secret-0123456789", "other": "another-providers-secret"}


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.STEWARD_FOLLOWUP_WEBHOOK_SECRETS = {**SECRETS, "demo": "demo-secret"}
    settings.STEWARD_FOLLOWUP_QUIET_HOURS = ("00:00", "00:00")  # whatever time the suite runs


@pytest.fixture(autouse=True)
def no_chance_failures(monkeypatch):
    """The demo's providers fail one email in 25 and one text in 20 by key; here only what a test asks."""
    monkeypatch.setattr(demo_provider, "BOUNCE_ONE_IN", 2**40)
    monkeypatch.setattr(demo_provider, "OUT_OF_SERVICE_ONE_IN", 2**40)


@pytest.fixture
def sent(advisor, settings) -> Message:
    """An email about one alert, sent now through the demo outbox; the provider knows it by its Message-ID."""
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = "followup.channels.OutboxEmailBackend"
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))
    (message_id,) = dispatch_queue()
    assert message_send(message_id=message_id, claim_token="t") == "sent"
    return Message.objects.get(pk=message_id)


def post_report(payload=None, *, provider="acme", secret=None, signed_at=None, body=None):
    """POST as the provider would: no login, no CSRF token, the body signed with its secret."""
    body = json.dumps(payload).encode() if body is None else body
    timestamp = str(int((signed_at or timezone.now()).timestamp()))
    signature = delivery_report_signature(secret=secret or SECRETS[provider], timestamp=timestamp, body=body)
    return BrowserClient(enforce_csrf_checks=True).post(
        reverse("followup:delivery_webhook", args=[provider]),
        data=body,
        content_type="application/json",
        headers={"X-Steward-Timestamp": timestamp, "X-Steward-Signature": signature},
    )


def delivered(message: Message, **extra) -> dict:
    return {"message_id": message.provider_reference, "event": "delivered", **extra}


# --- Signature and replays ------------------------------------------------------------------------


def test_a_signed_delivery_report_marks_the_message_delivered(sent):
    response = post_report(delivered(sent))

    assert response.status_code == 200 and response.json() == {"recorded": True}
    sent.refresh_from_db()
    assert sent.status == Message.Status.DELIVERED and sent.delivered_at is not None
    assert list(sent.events.values_list("kind", flat=True)) == ["queued", "sent", "delivered"]


def test_a_report_signed_with_another_providers_secret_is_refused_and_changes_nothing(sent):
    response = post_report(delivered(sent), secret=SECRETS["other"])

    assert response.status_code == 403 and response.json() == {"error": "signature does not match"}
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT


def test_a_body_changed_after_signing_is_refused(sent):
    body = json.dumps(delivered(sent)).encode()
    timestamp = str(int(timezone.now().timestamp()))
    signature = delivery_report_signature(secret=SECRETS["acme"], timestamp=timestamp, body=body)
    forged = body.replace(b"delivered", b'failed", "reason": "x')
    response = BrowserClient().post(
        reverse("followup:delivery_webhook", args=["acme"]),
        data=forged,
        content_type="application/json",
        headers={"X-Steward-Timestamp": timestamp, "X-Steward-Signature": signature},
    )
    assert response.status_code == 403
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT


def test_a_report_without_signature_is_refused(sent):
    response = BrowserClient().post(
        reverse("followup:delivery_webhook", args=["acme"]), data=delivered(sent), content_type="application/json"
    )
    assert response.status_code == 403 and response.json() == {"error": "missing signature or timestamp"}


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_report_signed_more_than_five_minutes_away_is_refused_so_a_captured_one_cannot_be_replayed_later(
    sent, minutes
):
    response = post_report(delivered(sent), signed_at=timezone.now() + dt.timedelta(minutes=minutes))

    assert response.status_code == 403
    assert "tolerance" in response.json()["error"]
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT


def test_the_same_report_twice_is_recorded_once_and_both_get_200_so_the_provider_stops_retrying(sent):
    first = post_report(delivered(sent, at="2026-01-05T10:00:00+00:00"))
    again = post_report(delivered(sent, at="2026-01-05T10:00:00+00:00"))

    assert (first.status_code, first.json()) == (200, {"recorded": True})
    assert (again.status_code, again.json()) == (200, {"recorded": False})
    assert MessageEvent.objects.filter(message=sent, kind="delivered").count() == 1


def test_a_provider_without_a_secret_in_the_settings_is_404(sent):
    response = BrowserClient().post(
        reverse("followup:delivery_webhook", args=["nosuchprovider"]), data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404 and response.json() == {"error": "unknown provider"}


def test_a_report_about_an_unknown_message_is_404_logged_without_the_id_and_tells_nothing_more(sent, caplog):
    with caplog.at_level(logging.WARNING, logger="followup.services.delivery"):
        response = post_report({"message_id": "<not-ours@elsewhere>", "event": "delivered"})

    assert response.status_code == 404 and response.json() == {"error": "unknown message"}
    assert "unknown message" in caplog.text and "not-ours" not in caplog.text


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "the body is not JSON"),
        (b"[]", "the body is not a JSON object"),
        (b'{"event": "delivered"}', "message_id must be the provider's message id"),
        (b'{"message_id": "m1", "event": "read"}', "event must be one of: bounced, delivered, failed"),
        (b'{"message_id": "m1", "event": "failed"}', "a failed or bounced report needs a reason"),
        (b'{"message_id": "m1", "event": "delivered", "at": "2026-01-05 10:00"}', "at must be an ISO 8601 time"),
        (b'{"message_id": "m1", "event": "delivered", "at": 12}', "at must be an ISO 8601 time"),
    ],
)
def test_a_malformed_report_is_400_with_a_clear_error(sent, body, error):
    response = post_report(body=body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
REPORTS = st.fixed_dictionaries(
    {"message_id": st.text(max_size=210) | JSON, "event": st.sampled_from(["delivered", "failed", "bounced"]) | JSON},
    optional={"at": st.datetimes().map(dt.datetime.isoformat) | st.text(max_size=30) | JSON, "reason": JSON},
)


@hypothesis_settings(
    max_examples=200,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=st.binary(max_size=200) | (JSON | REPORTS).map(lambda value: json.dumps(value).encode()))
def test_any_body_is_a_report_or_a_400_that_says_what_is_wrong(body):
    try:
        report = delivery_report_parse(body)
    except ReportRejected as rejected:
        assert rejected.status == 400 and rejected.reason
    else:
        assert isinstance(report, DeliveryReport) and report.event in ("delivered", "failed")
        assert report.at <= timezone.now() and (report.reason or report.event == "delivered")


def test_the_webhook_only_takes_posts(sent):
    assert BrowserClient().get(reverse("followup:delivery_webhook", args=["acme"])).status_code == 405


def test_a_report_reads_the_message_and_writes_it_in_a_fixed_few_queries(sent, django_assert_max_num_queries):
    body = json.dumps(delivered(sent)).encode()
    timestamp = str(int(timezone.now().timestamp()))
    signature = delivery_report_signature(secret=SECRETS["acme"], timestamp=timestamp, body=body)

    # One read, one conditional UPDATE, one INSERT of the event (and the savepoint around them).
    with django_assert_max_num_queries(5):
        assert delivery_report_receive(provider="acme", body=body, timestamp=timestamp, signature=signature)


# --- Failures and what the status shows -----------------------------------------------------------


def test_a_bounce_is_a_failure_with_its_reason_on_the_timeline_and_the_alert(client, sent, advisor):
    response = post_report({"message_id": sent.provider_reference, "event": "bounced", "reason": "550 user unknown"})

    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.status == Message.Status.FAILED
    assert sent.failure_reason == "Bounced: 550 user unknown"
    client.force_login(advisor)
    timeline = client.get(reverse("clients:detail", args=[sent.client_id])).content.decode()
    assert 'data-status="failed"' in timeline and "Bounced: 550 user unknown" in timeline
    alert = Alert.objects.get(followup_messages=sent)
    alert_page = client.get(reverse("alerts:detail", args=[alert.pk])).content.decode()
    assert "Failed" in alert_page and "Bounced: 550 user unknown" in alert_page


def test_the_timeline_and_the_alert_show_when_a_message_was_delivered(client, sent, advisor):
    post_report(delivered(sent))
    client.force_login(advisor)

    timeline = client.get(reverse("clients:detail", args=[sent.client_id])).content.decode()
    assert 'data-kind="delivered">Delivered' in timeline
    alert = Alert.objects.get(followup_messages=sent)
    assert 'data-status="delivered"' in client.get(reverse("alerts:detail", args=[alert.pk])).content.decode()


T0 = timezone.make_aware(dt.datetime(2026, 1, 5, 10, 0))

# (the reports, each at minutes after T0) → the status every order of their arrival ends in
PRECEDENCE = [
    ((("delivered", 1), ("failed", 2)), "failed"),  # a bounce after the receiving server accepted it
    ((("failed", 1), ("delivered", 2)), "delivered"),  # a retry got through after a reported failure
    ((("delivered", 1), ("failed", 1)), "failed"),  # a tie is read cautiously
    ((("clicked", 1), ("delivered", 2)), "clicked"),  # a late "delivered" never downgrades a click
    ((("opened", 1), ("failed", 2)), "opened"),  # the client opened it: a later failure cannot undo that
    ((("delivered", 1), ("failed", 2), ("responded", 3)), "responded"),
]


@pytest.mark.parametrize(
    ("arrivals", "status"),
    [(order, status) for reports, status in PRECEDENCE for order in itertools.permutations(reports)],
)
def test_the_status_shows_the_strongest_evidence_whatever_order_the_reports_arrive_in(sent, arrivals, status):
    for event, minutes in arrivals:
        message_track(message=sent, event=event, at=T0 + dt.timedelta(minutes=minutes), detail="x")

    sent.refresh_from_db()
    assert sent.status == status
    assert sorted(sent.events.exclude(kind__in=["queued", "sent"]).values_list("kind", flat=True)) == sorted(
        event for event, _minutes in arrivals
    )


def test_a_report_never_touches_a_message_that_did_not_leave(advisor):
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))
    (message_id,) = dispatch_queue()

    message_track(message=Message.objects.get(pk=message_id), event="delivered")
    assert Message.objects.get(pk=message_id).status == Message.Status.QUEUED


# --- The demo's providers -------------------------------------------------------------------------


def test_the_demo_providers_report_delivery_and_a_text_to_a_landline_fails_with_the_reason(advisor, settings):
    make_playbook(channels=("sms",))
    mobile = make_client(advisor, consents=[(Purpose.SERVICE, Channel.SMS)], phone="+31612345678")
    landline = make_client(advisor, consents=[(Purpose.SERVICE, Channel.SMS)], phone="+31201234567")
    raise_alert(mobile)
    raise_alert(landline)
    for message_id in dispatch_queue():
        assert message_send(message_id=message_id, claim_token="t") == "sent"

    assert demo_delivery_reports_send() == {"delivered": 1, "failed": 1}
    assert Message.objects.get(client=mobile).status == Message.Status.DELIVERED
    failed = Message.objects.get(client=landline)
    assert failed.status == Message.Status.FAILED
    assert failed.failure_reason == "Not a mobile number: a text message cannot reach it."
    # Reported once: a second run has nothing left to say.
    assert demo_delivery_reports_send() == {}


def test_a_demo_text_to_a_number_out_of_service_fails_with_the_reason(advisor, monkeypatch):
    make_playbook(channels=("whatsapp",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.WHATSAPP)], phone="+31612345678"))
    (message_id,) = dispatch_queue()
    message_send(message_id=message_id, claim_token="t")
    monkeypatch.setattr(demo_provider, "OUT_OF_SERVICE_ONE_IN", 1)  # every text

    assert demo_delivery_reports_send() == {"failed": 1}
    assert Message.objects.get(pk=message_id).failure_reason == (
        "Number not in service: the mobile network rejected the message."
    )


def test_a_bounced_demo_email_shows_as_failed_with_the_reason(sent, monkeypatch):
    monkeypatch.setattr(demo_provider, "BOUNCE_ONE_IN", 1)  # every email bounces

    assert demo_delivery_reports_send() == {"bounced": 1}
    sent.refresh_from_db()
    assert sent.status == Message.Status.FAILED
    assert sent.failure_reason == "Bounced: Mailbox unavailable (550 5.1.1 user unknown)."


def test_the_demo_providers_sign_their_reports_and_go_through_the_webhooks_verification(sent, settings):
    settings.STEWARD_FOLLOWUP_WEBHOOK_SECRETS = SECRETS  # no secret for "demo"

    with pytest.raises(ReportRejected) as refused:
        demo_delivery_reports_send()
    assert refused.value.status == 404
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT


def test_in_the_demo_dispatch_is_followed_by_the_providers_reports(
    advisor, settings, django_capture_on_commit_callbacks
):
    from followup.tasks import dispatch

    settings.STEWARD_FOLLOWUP_DEMO_DELIVERY_REPORTS = True
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = "followup.channels.OutboxEmailBackend"
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))

    with django_capture_on_commit_callbacks(execute=True):
        dispatch.delay()

    assert Message.objects.get().status == Message.Status.DELIVERED
