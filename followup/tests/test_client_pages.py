"""The client's pages behind signed links, the responses they record, and where staff see them."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from clients.models import Channel, Purpose
from followup.links import link_token, link_url
from followup.models import AdvisorAvailability, Booking, Message, SelfServiceResponse
from followup.selectors import advisor_free_slots
from followup.services.planning import dispatch_queue

from .conftest import make_client, make_playbook, raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(advisor):
    """An email sent now (real time) about one alert, with a self-service call to action."""
    AdvisorAvailability.objects.bulk_create(
        AdvisorAvailability(advisor=advisor, weekday=day, start_time=dt.time(9), end_time=dt.time(17))
        for day in range(7)
    )
    make_playbook(channels=("email",))
    client = make_client(advisor)
    alert = raise_alert(client)
    (message_id,) = dispatch_queue()
    message = Message.objects.get(pk=message_id)
    # The client pages speak the message's language; these tests read the English texts.
    Message.objects.filter(pk=message_id).update(status="sent", sent_at=timezone.now(), language="en")
    message.refresh_from_db()
    return message, alert


def test_the_link_opens_the_clients_page_without_login_and_counts_as_a_click(client, sent):
    message, alert = sent
    response = client.get(reverse("followup_public:landing", args=[link_token(message)]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert alert.alert_type.name in response.content.decode()
    message.refresh_from_db()
    assert message.status == "clicked" and message.clicked_at and message.opened_at


def test_a_tampered_link_is_a_bad_request_with_a_clear_page(client, sent):
    message, _alert = sent
    token = link_token(message)
    response = client.get(reverse("followup_public:landing", args=[token[:-2] + "xx"]))
    assert response.status_code == 400
    assert 'data-reason="invalid"' in response.content.decode()


def test_a_link_expires_after_three_weeks(client, sent):
    message, _alert = sent
    url = reverse("followup_public:landing", args=[link_token(message)])
    with time_machine.travel(timezone.now() + dt.timedelta(days=20)):
        assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=22)):
        response = client.get(url)
    assert response.status_code == 410
    assert 'data-reason="expired"' in response.content.decode()


def test_a_link_to_a_message_that_never_left_does_not_work(client, advisor):
    make_playbook(channels=("email",))
    raise_alert(make_client(advisor))
    (message_id,) = dispatch_queue()
    response = client.get(reverse("followup_public:landing", args=[link_token(Message.objects.get(pk=message_id))]))
    assert response.status_code == 400


def test_completing_the_self_service_flow_resolves_the_alert_once(client, sent):
    message, alert = sent
    url = reverse("followup_public:self_service", args=[link_token(message), alert.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"years": "10", "remark": "graag"})
    assert "Thank you" in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert "years: 10" in alert.status_reason
    message.refresh_from_db()
    assert message.status == "responded" and message.responded_at
    # The back button and a second submit record nothing more.
    client.post(url, {"years": "20"})
    assert SelfServiceResponse.objects.count() == 1


def test_a_link_cannot_answer_another_clients_alert(client, sent, advisor):
    message, _alert = sent
    other = raise_alert(make_client(advisor), "home_underinsured")
    url = reverse("followup_public:self_service", args=[link_token(message), other.pk])
    assert client.post(url, {"years": "10"}).status_code == 404
    other.refresh_from_db()
    assert other.status == Alert.Status.OPEN


def test_booking_a_free_slot_puts_it_on_the_advisors_agenda_and_starts_the_alert(client, sent, advisor):
    message, alert = sent
    slot = advisor_free_slots(advisor=advisor)[0]
    url = reverse("followup_public:book", args=[link_token(message)])
    assert client.get(url).status_code == 200
    response = client.post(url, {"slot": slot.starts_at.isoformat()})
    assert response.status_code == 200 and "booked" in response.content.decode()
    booking = Booking.objects.get()
    assert (booking.advisor, booking.alert, booking.starts_at) == (advisor, alert, slot.starts_at)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.IN_PROGRESS
    assert slot.starts_at not in {s.starts_at for s in advisor_free_slots(advisor=advisor)}
    # The same slot again: refused with a message.
    again = client.post(url, {"slot": slot.starts_at.isoformat()})
    assert "no longer free" in again.content.decode()
    assert Booking.objects.count() == 1

    client.force_login(advisor)
    agenda = client.get(reverse("followup:agenda")).content.decode()
    assert booking.client.full_name in agenda
    alert_page = client.get(reverse("alerts:detail", args=[alert.pk])).content.decode()
    assert 'data-testid="alert-booking"' in alert_page


def test_free_slots_are_the_weekly_hours_minus_bookings_from_two_hours_ahead(advisor):
    monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    AdvisorAvailability.objects.create(advisor=advisor, weekday=0, start_time=dt.time(9), end_time=dt.time(12))
    now = timezone.make_aware(dt.datetime.combine(monday, dt.time(8)))
    slots = advisor_free_slots(advisor=advisor, now=now, days=0)
    assert [timezone.localtime(s.starts_at).hour for s in slots] == [10, 11]  # 9:00 is within two hours


def test_the_360_page_shows_follow_up_in_the_contact_timeline(client, sent, advisor):
    message, _alert = sent
    client.force_login(advisor)
    html = client.get(reverse("clients:detail", args=[message.client_id])).content.decode()
    assert 'data-testid="followup-message"' in html
    assert message.subject in html


def test_the_email_links_and_the_open_pixel(client, sent):
    message, _alert = sent
    assert link_url(message).startswith("https://steward.example/c/")
    response = client.get(reverse("followup_public:pixel", args=[link_token(message)]))
    assert response["Content-Type"] == "image/gif"
    message.refresh_from_db()
    assert message.status == "opened"


def test_dispatch_now_queues_and_sends(client, back_office, advisor, django_capture_on_commit_callbacks, monkeypatch):
    from django.core import mail

    make_playbook(channels=("email",))
    raise_alert(make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL)]))
    # Outside quiet hours whatever time the suite runs.
    noon = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(12)))
    with time_machine.travel(noon, tick=False), django_capture_on_commit_callbacks(execute=True):
        # Logged in at noon too: a session from just after midnight is past its ten hours by then,
        # and the POST would be redirected to the login page (this test failed from 0:00 to 2:00).
        client.force_login(back_office)
        response = client.post(reverse("followup:dispatch_now"))
        assert response.url == reverse("followup:playbooks")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert Message.objects.get().status == "sent"
