"""In a real browser: an advisor works through the dashboard, the counts follow, and the navigation's
badge shows a newly raised urgent alert until the dashboard has been seen."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import AlertType, Quadrant
from clients.tests.factories import ClientFactory

from .test_dashboard import make_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_advisor_filters_snoozes_resolves_and_opens_the_client(page, live_server, advisor, persona_password):
    anna, bas, cor = (
        ClientFactory(team=advisor.team, advisor=advisor, household=None, first_name=n) for n in ("Anna", "Bas", "Cor")
    )
    today = timezone.localdate()
    make_alert(anna, priority=90, due=today + timedelta(days=5))
    make_alert(bas, priority=80, due=today + timedelta(days=9))
    make_alert(cor, "pension_gap", priority=20, quadrant=Quadrant.LATER_SENSITIVE)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(advisor.username)
    page.get_by_label("Password").fill(persona_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile("/dashboard/$"))  # the advisor's landing page
    table = page.get_by_test_id("alert-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("count-urgent_sensitive")).to_have_text("2")

    # Filter in place (htmx): only the pension alert.
    page.get_by_label("Alert type").select_option("pension_gap")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile("alert_type=pension_gap"))
    page.get_by_label("Alert type").select_option("")
    expect(table.locator("tbody tr")).to_have_count(3)

    # Snooze Anna's alert, resolve Bas's.
    page.locator(f'tr:has-text("{anna.full_name}") input[name=alert_ids]').check()
    page.get_by_label("With the ticked alerts").select_option("snooze")
    page.get_by_label("Snooze until").fill((today + timedelta(days=14)).isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("1 alerts updated.")).to_be_visible()
    page.locator(f'tr:has-text("{bas.full_name}") input[name=alert_ids]').check()
    page.get_by_label("With the ticked alerts").select_option("resolve")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("count-urgent_sensitive")).to_have_text("1")  # Anna's snoozed alert still counts as live
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("Snoozed")

    table.get_by_role("link", name=cor.full_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(cor.full_name)
    pension_gap = AlertType.objects.get(key="pension_gap")
    expect(page.get_by_test_id("client-alerts")).to_contain_text(pension_gap.name)
    expect(page.get_by_test_id("badge-alerts")).to_have_count(0)  # nothing new since the dashboard

    # The framework raises an urgent alert for Cor: the navigation says so on the next page, and
    # the badge clears once the advisor has been to the dashboard.
    make_alert(cor, priority=95, due=today + timedelta(days=3))
    page.reload()
    expect(page.get_by_test_id("badge-alerts")).to_have_text("1")
    page.locator('nav [data-area="alerts"]').click()
    expect(page).to_have_url(re.compile("/dashboard/$"))
    expect(page.get_by_test_id("count-urgent_sensitive")).to_have_text("2")
    expect(page.get_by_test_id("badge-alerts")).to_have_count(0)
    table.get_by_role("link", name=cor.full_name).first.click()
    expect(page.get_by_test_id("badge-alerts")).to_have_count(0)
