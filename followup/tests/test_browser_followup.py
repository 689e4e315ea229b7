"""In a real browser, the whole follow-up path: back office defines a playbook for the urgent
quadrant and dispatches; the email is in the demo outbox; the client opens its link, completes the
self-service flow and books a meeting; the alert, the agenda and the client's timeline follow,
with the provider's delivery report on it."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from alerts.models import Alert, Quadrant
from clients.models import Channel, Purpose
from followup import demo_provider
from followup.models import AdvisorAvailability, Booking

from .conftest import make_client, raise_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def test_back_office_dispatches_the_urgent_quadrant_and_the_client_answers_from_the_email(
    page, new_context, live_server, settings, monkeypatch, back_office, advisor, persona_password
):
    settings.STEWARD_FOLLOWUP_EMAIL_BACKEND = "followup.channels.OutboxEmailBackend"
    # As in the demo: after dispatch the demo's mail provider reports delivery through the signed webhook path.
    settings.STEWARD_FOLLOWUP_DEMO_DELIVERY_REPORTS = True
    settings.STEWARD_FOLLOWUP_WEBHOOK_SECRETS = {"demo": "browser-test-demo-secret"}
    monkeypatch.setattr(demo_provider, "BOUNCE_ONE_IN", 2**40)  # this email is not among the demo's bounces
    settings.STEWARD_FOLLOWUP_SITE_URL = live_server.url
    settings.STEWARD_FOLLOWUP_QUIET_HOURS = ("00:00", "00:00")  # whatever time the suite runs
    AdvisorAvailability.objects.bulk_create(
        AdvisorAvailability(advisor=advisor, weekday=day, start_time=dt.time(8), end_time=dt.time(18))
        for day in range(7)
    )
    client = make_client(advisor, consents=[(Purpose.SERVICE, Channel.EMAIL)], first_name="Sanne")
    alert = raise_alert(client, "fixed_rate_ending", quadrant=Quadrant.URGENT_ROUTINE)

    # Back office defines the playbook beside the canvas's quadrants and dispatches.
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/followup/")
    page.get_by_test_id("new-playbook-urgent_routine").click()
    page.get_by_label("Name").fill("Fixed rate ends: choose a new period")
    page.get_by_label("Call to action").select_option("self_service")
    page.get_by_label("Self-service flow").select_option("fixed_rate_period")
    page.get_by_label("Channel 1").select_option("email")
    page.get_by_test_id("save-playbook").click()
    expect(page.get_by_test_id("quadrant-urgent_routine").get_by_test_id("playbook")).to_have_count(1)
    expect(page.get_by_test_id("preview").locator('tr[data-channel="email"] td').nth(1)).to_have_text("1")
    page.get_by_test_id("dispatch-now").click()
    expect(page.get_by_text(re.compile("Dispatch done: 1 new message"))).to_be_visible()

    # The email is in the demo outbox, with the client's link.
    page.goto(f"{live_server.url}/followup/outbox/")
    expect(page.get_by_test_id("outbox-email")).to_have_count(1)
    page.get_by_test_id("outbox-email").get_by_role("link").click()
    link = page.get_by_test_id("email-body").get_by_role("link").first.get_attribute("href")
    assert link.startswith(f"{live_server.url}/c/")

    # The client opens the link on a phone, without logging in.
    # A phone that prefers English (the pages otherwise speak the message's language).
    phone_context = new_context(viewport={"width": 390, "height": 844})
    phone_context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    phone = phone_context.new_page()
    phone.goto(link)
    expect(phone.get_by_test_id("client-alerts")).to_contain_text(alert.alert_type.name)
    phone.get_by_test_id("start-self-service").click()
    phone.get_by_label("10 years").check()
    phone.get_by_test_id("submit-self-service").click()
    expect(phone.get_by_test_id("thanks")).to_be_visible()
    phone.goto(link)
    expect(phone.get_by_test_id("done")).to_be_visible()
    phone.get_by_test_id("book-meeting").click()
    phone.locator('label[for^="slot-"]').first.click()
    phone.get_by_test_id("confirm-booking").click()
    expect(phone.get_by_test_id("booked-confirmation")).to_be_visible()

    # The alert is resolved by the client's answer and shows the booking; the timeline shows the message.
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    booking = Booking.objects.get()
    page.goto(f"{live_server.url}/dashboard/{alert.pk}/")
    expect(page.get_by_test_id("alert-response")).to_contain_text("years=10")
    expect(page.get_by_test_id("alert-booking")).to_be_visible()
    page.goto(f"{live_server.url}/clients/{client.pk}/")
    expect(page.get_by_test_id("followup-message")).to_have_attribute("data-status", "responded")
    # The provider's delivery report is on the timeline, before the client's click and answer.
    expect(page.locator('[data-testid="followup-event"][data-kind="delivered"]')).to_contain_text("Delivered")

    # The advisor sees the meeting on their agenda.
    advisor_page = new_context().new_page()
    log_in(advisor_page, live_server, advisor, persona_password)
    advisor_page.goto(f"{live_server.url}/followup/agenda/")
    expect(advisor_page.get_by_test_id("booking")).to_contain_text(client.full_name)
    assert booking.advisor == advisor
